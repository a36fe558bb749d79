package hostapi

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"smvs/lib/wire"
)

// partSizes are the sizes at which a BodyPart's head changes, and the
// largest part.
var partSizes = []int{0, 1, 23, 24, 255, 256, 65535, 65536, MaxBodyPart}

func TestBodyPartRoundTrip(t *testing.T) {
	for _, n := range partSizes {
		p := bytes.Repeat([]byte{0xa5}, n)
		enc := EncodeBodyPart(p)
		if want := wire.Marshal(p); !bytes.Equal(enc, want) {
			t.Fatalf("%d bytes: encoded as %x…, the CBOR codec says %x…", n, enc[:min(8, len(enc))], want[:min(8, len(want))])
		}
		got, err := DecodeBodyPart(enc)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: decoded %d bytes, %v", n, len(got), err)
		}
		var buf bytes.Buffer
		if err := WriteBodyPart(&buf, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), wire.AppendFrame(nil, enc)) {
			t.Fatalf("%d bytes: WriteBodyPart is not the frame of EncodeBodyPart", n)
		}
	}
	if err := WriteBodyPart(io.Discard, make([]byte, MaxBodyPart+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("a part over the limit: %v", err)
	}
}

func TestBodyPartRejects(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"empty":                 {nil, wire.ErrMalformed},
		"a text string":         {[]byte{0x61, 'a'}, wire.ErrMalformed},
		"an unsigned integer":   {[]byte{0x00}, wire.ErrMalformed},
		"indefinite length":     {[]byte{0x5f, 0x41, 'a', 0xff}, wire.ErrMalformed},
		"an 8-byte length":      {[]byte{0x5b, 0, 0, 0, 0, 0, 0, 0, 1, 'a'}, wire.ErrMalformed},
		"a long head for 1":     {[]byte{0x58, 0x01, 'a'}, wire.ErrNonCanonical},
		"a long head for 255":   {append([]byte{0x59, 0x00, 0xff}, make([]byte, 255)...), wire.ErrNonCanonical},
		"a long head for 65535": {append([]byte{0x5a, 0, 0, 0xff, 0xff}, make([]byte, 65535)...), wire.ErrNonCanonical},
		"over 1 MiB":            {append([]byte{0x5a, 0, 0x10, 0, 1}, make([]byte, MaxBodyPart+1)...), wire.ErrTooLarge},
		"truncated head":        {[]byte{0x59, 0x01}, wire.ErrTruncated},
		"truncated bytes":       {[]byte{0x43, 'a', 'b'}, wire.ErrTruncated},
		"trailing bytes":        {[]byte{0x41, 'a', 'b'}, wire.ErrTrailingData},
	} {
		if _, err := DecodeBodyPart(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// FuzzBodyPart checks that the BodyPart decoder never panics, that what it
// accepts re-encodes to the same bytes, and that it agrees with the CBOR
// codec's strict decoding of a byte string.
func FuzzBodyPart(f *testing.F) {
	for _, n := range []int{0, 1, 24, 256, 65536} {
		f.Add(EncodeBodyPart(bytes.Repeat([]byte{7}, n)))
	}
	f.Add([]byte{0x58, 0x01, 'a'})
	f.Add([]byte{0x5f, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeBodyPart(data)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeBodyPart(p), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func TestBodyReader(t *testing.T) {
	body := make([]byte, 2*MaxBodyPart+12345)
	for i := range body {
		body[i] = byte(i % 251)
	}
	var parts bytes.Buffer
	for rest := body; len(rest) > 0; {
		n := min(len(rest), MaxBodyPart)
		WriteBodyPart(&parts, rest[:n])
		rest = rest[n:]
	}
	WriteBodyPart(&parts, nil)
	WriteBodyPart(&parts, []byte("the next request")) // not the body's

	enc := parts.Bytes()
	r := NewBodyReader(bytes.NewReader(enc), int64(len(body)))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, body) || !r.Done() || r.N() != int64(len(body)) {
		t.Fatalf("read %d bytes of %d, done %v: %v", len(got), len(body), r.Done(), err)
	}

	if _, err := io.ReadAll(NewBodyReader(bytes.NewReader(enc), int64(len(body)-1))); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	end := len(enc) - 2*(wire.FrameHeaderSize+1) - len("the next request") - wire.FrameHeaderSize
	for name, cut := range map[string][]byte{
		"no end part":   enc[:end],
		"cut in a part": enc[:end-100],
		"cut in a head": enc[:wire.FrameHeaderSize+2],
	} {
		r := NewBodyReader(bytes.NewReader(cut), int64(len(body)))
		if _, err := io.ReadAll(r); !errors.Is(err, wire.ErrTruncated) || r.Done() {
			t.Errorf("%s: %v", name, err)
		}
	}
	var notPart bytes.Buffer
	WriteRequest(&notPart, &Request{Op: OpList, List: &List{}})
	if _, err := io.ReadAll(NewBodyReader(&notPart, 1<<30)); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("a request among the parts: %v", err)
	}
}

func TestBodyMessages(t *testing.T) {
	var buf bytes.Buffer
	WriteRequest(&buf, &Request{Op: OpBody, Body: &BodyRequest{Seq: 42}})
	req, err := ReadRequest(&buf, MaxFrame)
	if err != nil || req.Body.Seq != 42 {
		t.Fatalf("body request: %+v, %v", req, err)
	}
	WriteResponse(&buf, &Response{BodyInfo: &BodyInfo{Size: 5 << 20}})
	resp, err := ReadResponse(&buf, MaxFrame)
	if err != nil || resp.BodyInfo.Size != 5<<20 {
		t.Fatalf("body info: %+v, %v", resp, err)
	}
	WriteRequest(&buf, &Request{Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindFile, Stream: true}})
	if req, err := ReadRequest(&buf, MaxFrame); err != nil || !req.Submit.Stream {
		t.Fatalf("streamed submit: %+v, %v", req, err)
	}
	for name, r := range map[string]any{
		"seq 0":                 &Request{V: Version, Op: OpBody, Body: &BodyRequest{}},
		"body in a stream":      &Request{V: Version, Op: OpSubmit, Submit: &Submit{To: "bob", Kind: wire.KindFile, Stream: true, Body: []byte("x")}},
		"negative size":         &Response{V: Version, BodyInfo: &BodyInfo{Size: -1}},
		"a size and a body":     &Response{V: Version, Status: &Item{Seq: 1, Size: 2, Body: []byte("x")}},
		"an event's size < 0":   &Response{V: Version, Event: &Event{Kind: EventMessage, Item: &Item{Seq: 1, Size: -2}}},
		"a body info and sent":  &Response{V: Version, BodyInfo: &BodyInfo{Size: 1}, Sent: &SubmitResult{}},
		"op 13 without its map": &Request{V: Version, Op: OpBody, List: &List{}},
	} {
		var buf bytes.Buffer
		buf.Write(wire.AppendFrame(nil, wire.Marshal(r)))
		var err error
		if _, ok := r.(*Request); ok {
			_, err = ReadRequest(&buf, MaxFrame)
		} else {
			_, err = ReadResponse(&buf, MaxFrame)
		}
		if !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
