package hostapi

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// TestSubmitRequestBytes checks that a submit encodes through
// submitRequest exactly as its Request does, and anything else as its
// Request.
func TestSubmitRequestBytes(t *testing.T) {
	for _, r := range []*Request{
		{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindText, Body: []byte("hi")}},
		{Op: OpSubmit, Submit: &Submit{To: "smvs1x", Kind: wire.KindFile, ContentType: "text/csv", FileName: "a.csv", Expires: 1, Stream: true}},
		{Op: OpStatus, Status: &Status{ID: make([]byte, wire.MessageIDSize)}},
		{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindText}, List: &List{}}, // invalid: as it is
	} {
		r.V = Version
		if got, want := marshalRequest(r), wire.Marshal(r); !bytes.Equal(got, want) {
			t.Errorf("op %d: marshalRequest = %x, want %x", r.Op, got, want)
		}
	}
}

// TestSubmitResponseRead checks that readSubmitResponse reads every answer
// as ReadResponse does.
func TestSubmitResponseRead(t *testing.T) {
	for _, r := range []*Response{
		{Sent: &SubmitResult{Seq: 7, ID: make([]byte, wire.MessageIDSize), Recipient: make([]byte, wire.KeySize), Name: "bob"}},
		{Err: &Error{Code: ErrUnknownRecipient, Message: "no such contact", Hint: "add it"}},
		{Status: &Item{Seq: 1, ID: make([]byte, wire.MessageIDSize), Status: delivery.Queued}},
	} {
		var frame bytes.Buffer
		if err := WriteResponse(&frame, r); err != nil {
			t.Fatal(err)
		}
		data := frame.Bytes()
		got, gotErr := readSubmitResponse(bytes.NewReader(data), MaxFrame)
		want, wantErr := ReadResponse(bytes.NewReader(data), MaxFrame)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
			t.Errorf("readSubmitResponse = %+v, %v; ReadResponse = %+v, %v", got, gotErr, want, wantErr)
		}
	}
	if _, err := readSubmitResponse(bytes.NewReader(nil), MaxFrame); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("no answer: %v", err)
	}
}
