package hostapi

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := &Request{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindText, Body: []byte("hi")}}
	if err := WriteRequest(&buf, req); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRequest(&buf, MaxFrame)
	if err != nil || got.Submit.To != "bob" || string(got.Submit.Body) != "hi" {
		t.Fatalf("ReadRequest = %+v, %v", got, err)
	}
	if _, err := ReadRequest(&buf, MaxFrame); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}

	resp := &Response{Err: &Error{Code: ErrUnknownRecipient, Message: "no such contact"}}
	if err := WriteResponse(&buf, resp); err != nil {
		t.Fatal(err)
	}
	var apiErr *Error
	if _, err := ReadResponse(&buf, MaxFrame); !errors.As(err, &apiErr) || apiErr.Code != ErrUnknownRecipient {
		t.Fatalf("error response: %v", err)
	}
	if _, err := ReadResponse(&buf, MaxFrame); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("closed before an answer: %v", err)
	}
}

// writeCounter counts the writes made to it.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestRequestOneWrite checks that a request frame goes out in one write:
// a device's request is then one system call, and the host never wakes
// for a lone frame header.
func TestRequestOneWrite(t *testing.T) {
	var w writeCounter
	req := &Request{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindText, Body: []byte("hi")}}
	if err := WriteRequest(&w, req); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Errorf("WriteRequest made %d writes, want 1", w.writes)
	}
	if got, err := ReadRequest(&w.Buffer, MaxFrame); err != nil || got.Submit.To != "bob" {
		t.Errorf("ReadRequest = %+v, %v", got, err)
	}
}

func TestRejects(t *testing.T) {
	for name, r := range map[string]*Request{
		"no operation":   {Op: OpSubmit},
		"two operations": {Op: OpSubmit, Submit: &Submit{To: "a", Kind: wire.KindText}, List: &List{}},
		"wrong field":    {Op: OpList, Submit: &Submit{To: "a", Kind: wire.KindText}},
		"no recipient":   {Op: OpSubmit, Submit: &Submit{Kind: wire.KindText}},
		"receipt kind":   {Op: OpSubmit, Submit: &Submit{To: "a", Kind: wire.KindReceipt}},
		"short id":       {Op: OpStatus, Status: &Status{ID: []byte{1}}},
	} {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadRequest(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var buf bytes.Buffer
	WriteRequest(&buf, &Request{Op: OpList, List: &List{Follow: true}})
	if _, err := ReadRequest(&buf, 3); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzRequest checks that the host's request decoder never panics and that
// what it accepts re-encodes to the same bytes.
func FuzzRequest(f *testing.F) {
	for _, r := range []*Request{
		{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindFile, FileName: "a.txt", Body: []byte("x")}},
		{Op: OpList, List: &List{After: 7, Peer: "bob", Follow: true}},
		{Op: OpStatus, Status: &Status{ID: make([]byte, wire.MessageIDSize), Wait: 1000}},
		{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindFile, Stream: true}},
		{Op: OpBody, Body: &BodyRequest{Seq: 7}},
	} {
		r.V = Version
		f.Add(wire.Marshal(r))
	}
	for _, r := range historyRequests() {
		r.V = Version
		f.Add(wire.Marshal(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(Request)
		if err := wire.Unmarshal("request", data, r); err != nil {
			return
		}
		if !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

// FuzzResponse does the same for the device's response decoder.
func FuzzResponse(f *testing.F) {
	for _, r := range []*Response{
		{Sent: &SubmitResult{Seq: 1, ID: make([]byte, 16), Recipient: make([]byte, 32), Name: "bob"}},
		{Event: &Event{Kind: EventMessage, Item: &Item{Seq: 2, Direction: delivery.In, Kind: wire.KindText, Body: []byte("hi"), Status: delivery.Received}}},
		{Event: &Event{Kind: EventMessage, Item: &Item{Seq: 3, Direction: delivery.In, Kind: wire.KindText, Status: delivery.Received, ClaimedName: "frank"}}},
		{Event: &Event{Kind: EventCall, Call: &CallEvent{Peer: make([]byte, 32), ClaimedName: "frank"}}},
		{Event: &Event{Kind: EventLive}},
		{Event: &Event{Kind: EventMessage, Item: &Item{Seq: 4, Direction: delivery.In, Kind: wire.KindFile, Status: delivery.Received, Size: 5 << 20}}},
		{BodyInfo: &BodyInfo{Size: 5 << 20}},
		{Err: &Error{Code: ErrTooLarge, Message: "too large", Hint: "limit 64 MiB"}},
	} {
		r.V = Version
		f.Add(wire.Marshal(r))
	}
	for _, r := range historyResponses() {
		r.V = Version
		f.Add(wire.Marshal(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(Response)
		if err := wire.Unmarshal("response", data, r); err != nil {
			return
		}
		if !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

// TestMarkReadLimit checks that the largest read request a device sends
// (MaxReadSeqs) decodes, and one over it is refused as malformed, before
// the host reads it whole.
func TestMarkReadLimit(t *testing.T) {
	seqs := make([]uint64, MaxReadSeqs+1)
	for i := range seqs {
		seqs[i] = uint64(100000 + i)
	}
	var buf bytes.Buffer
	if err := WriteRequest(&buf, &Request{Op: OpRead, Read: &MarkRead{Seqs: seqs[:MaxReadSeqs]}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRequest(&buf, MaxFrame)
	if err != nil || len(got.Read.Seqs) != MaxReadSeqs {
		t.Fatalf("a read request of %d seqs: %v", MaxReadSeqs, err)
	}
	if err := WriteRequest(&buf, &Request{Op: OpRead, Read: &MarkRead{Seqs: seqs}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRequest(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("a read request of %d seqs: %v, want malformed", len(seqs), err)
	}
}
