package hostapi

import (
	"io"

	"smvs/lib/wire"
)

// On a type's first encoding, cbor builds the encoders of every type it
// reaches; for Request and Response, every operation's types: about 0.2 ms
// of a one-shot smvs-send, for a submit and its answer. These two types
// carry only the fields of a submit and of its answer, and encode exactly
// as a Request and a Response with those fields set do: the others are
// empty, so omitted.
type (
	submitRequest struct {
		V      uint64  `cbor:"0,keyasint"`
		Op     Op      `cbor:"1,keyasint"`
		Submit *Submit `cbor:"2,keyasint,omitempty"`
	}
	submitResponse struct {
		V    uint64        `cbor:"0,keyasint"`
		Err  *Error        `cbor:"1,keyasint,omitempty"`
		Sent *SubmitResult `cbor:"2,keyasint,omitempty"`
	}
)

// Validate checks a decoded answer as Response.Validate does.
func (r *submitResponse) Validate() error {
	return (&Response{Err: r.Err, Sent: r.Sent}).Validate()
}

// marshalRequest encodes r, a valid submit through submitRequest.
func marshalRequest(r *Request) []byte {
	if r.Op == OpSubmit && r.Validate() == nil {
		return wire.Marshal(&submitRequest{V: r.V, Op: r.Op, Submit: r.Submit})
	}
	return wire.Marshal(r)
}

// readSubmitResponse is ReadResponse for the answer to a submit: one that
// is not shaped as one is decoded, and refused, as ReadResponse does.
func readSubmitResponse(rd io.Reader, limit int) (*Response, error) {
	data, err := readResponseFrame(rd, limit)
	if err != nil {
		return nil, err
	}
	var r submitResponse
	if wire.Unmarshal("response", data, &r) != nil {
		return decodeResponse(data)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return &Response{V: r.V, Sent: r.Sent}, nil
}
