package hostapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"smvs/lib/wire"
)

// Validate checks that exactly the field for Op is set and its contents are
// sane; it is called on every decoded request.
func (r *Request) Validate() error {
	set := 0
	for _, present := range []bool{r.Submit != nil, r.List != nil, r.Status != nil, r.Devices != nil, r.Link != nil, r.Read != nil, r.Call != nil, r.Signal != nil,
		r.Delete != nil, r.Import != nil, r.Fingerprint != nil, r.Expiry != nil, r.Publish != nil, r.Body != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("%w: a request carries exactly one operation", wire.ErrMalformed)
	}
	switch {
	case r.Op == OpSubmit && r.Submit != nil:
		return r.Submit.validate()
	case r.Op == OpList && r.List != nil:
		return nil
	case r.Op == OpStatus && r.Status != nil:
		if len(r.Status.ID) != wire.MessageIDSize || r.Status.Wait < 0 {
			return fmt.Errorf("%w: status request", wire.ErrMalformed)
		}
		return nil
	case r.Op == OpDevices && r.Devices != nil:
		return r.Devices.validate()
	case r.Op == OpLink && r.Link != nil:
		return r.Link.validate()
	case r.Op == OpRead && r.Read != nil:
		return r.Read.validate()
	case r.Op == OpCall && r.Call != nil:
		return r.Call.validate()
	case r.Op == OpSignal && r.Signal != nil:
		return validSignal(r.Signal)
	case r.Op == OpDelete && r.Delete != nil:
		return r.Delete.validate()
	case r.Op == OpImport && r.Import != nil:
		return r.Import.validate()
	case r.Op == OpFingerprint && r.Fingerprint != nil:
		return r.Fingerprint.validate()
	case r.Op == OpExpiry && r.Expiry != nil:
		return r.Expiry.validate()
	case r.Op == OpPublish && r.Publish != nil:
		return r.Publish.validate()
	case r.Op == OpBody && r.Body != nil:
		return r.Body.validate()
	}
	return fmt.Errorf("%w: operation %d does not match its field", wire.ErrMalformed, r.Op)
}

func (s *Submit) validate() error {
	switch {
	case s.To == "":
		return fmt.Errorf("%w: no recipient", wire.ErrMalformed)
	case s.Kind != wire.KindText && s.Kind != wire.KindFile:
		return fmt.Errorf("%w: a device can submit only text or file messages", wire.ErrMalformed)
	case len(s.ContentType) > wire.MaxContentTypeLen || len(s.FileName) > wire.MaxFileNameLen:
		return fmt.Errorf("%w: content type or file name", wire.ErrTooLarge)
	case s.Expires < 0:
		return fmt.Errorf("%w: negative expiry", wire.ErrMalformed)
	case s.Stream && len(s.Body) > 0:
		return fmt.Errorf("%w: a streamed submit carries its body in BodyParts, not in the request", wire.ErrMalformed)
	}
	return nil
}

// Validate checks a decoded response: at most one result, or an error.
func (r *Response) Validate() error {
	set := 0
	for _, present := range []bool{r.Err != nil, r.Sent != nil, r.Event != nil, r.Status != nil, r.Devices != nil, r.Linked != nil, r.Read != nil,
		r.Deleted != nil, r.Imported != nil, r.Fingerprint != nil, r.Expiry != nil, r.Published != nil, r.BodyInfo != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("%w: a response carries exactly one result or error", wire.ErrMalformed)
	}
	switch {
	case r.Event != nil:
		return r.Event.validate()
	case r.Status != nil:
		return r.Status.validate()
	case r.BodyInfo != nil:
		return r.BodyInfo.validate()
	}
	return nil
}

// validate checks what the device protocol says of an item's fields.
func (it *Item) validate() error {
	if it.Size < 0 || it.Size > 0 && len(it.Body) > 0 {
		return fmt.Errorf("%w: an item with a streamed body carries no body, and a size above 0", wire.ErrMalformed)
	}
	return nil
}

// WriteRequest writes r as one frame, in one write: a frame in two (its
// header, then its payload) costs a device a second system call, and may
// wake the host for a header it can do nothing with.
func WriteRequest(w io.Writer, r *Request) error {
	r.V = Version
	payload := marshalRequest(r)
	var frame bytes.Buffer
	frame.Grow(wire.FrameHeaderSize + len(payload))
	if err := wire.WriteFrame(&frame, payload); err != nil {
		return err
	}
	_, err := w.Write(frame.Bytes())
	return err
}

// ReadRequest reads one request frame of at most limit bytes. It returns
// io.EOF when the device closed the connection between requests.
func ReadRequest(rd io.Reader, limit int) (*Request, error) {
	data, err := wire.ReadFrame(rd, limit)
	if err != nil {
		return nil, err
	}
	r := new(Request)
	if err := wire.Unmarshal("request", data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// WriteResponse writes r as one frame.
func WriteResponse(w io.Writer, r *Response) error {
	r.V = Version
	return wire.WriteFrame(w, wire.Marshal(r))
}

// ReadResponse reads one response frame of at most limit bytes. A response
// carrying an error is returned as that *Error.
func ReadResponse(rd io.Reader, limit int) (*Response, error) {
	data, err := readResponseFrame(rd, limit)
	if err != nil {
		return nil, err
	}
	return decodeResponse(data)
}

// readResponseFrame reads one response frame of at most limit bytes.
func readResponseFrame(rd io.Reader, limit int) ([]byte, error) {
	data, err := wire.ReadFrame(rd, limit)
	if errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF // the host closed before answering
	}
	return data, err
}

// decodeResponse decodes a response frame; one carrying an error is
// returned as that *Error.
func decodeResponse(data []byte) (*Response, error) {
	r := new(Response)
	if err := wire.Unmarshal("response", data, r); err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return r, nil
}
