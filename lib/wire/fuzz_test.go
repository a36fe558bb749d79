package wire

import (
	"bytes"
	"testing"
)

// Each fuzz target checks that the decoder never panics and that whatever it
// accepts re-encodes to exactly the same bytes. The seeds are the golden
// vectors.

func addVectors(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readVector(f, n))
	}
}

func FuzzSigned(f *testing.F) {
	addVectors(f, "record.cbor", "message.cbor", "rotated-record.cbor", "chained-record.cbor", "tombstone.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSigned(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzRecord(f *testing.F) {
	addVectors(f, "record.cbor", "rotated-record.cbor", "chained-record.cbor", "relayed-record.cbor")
	for _, name := range []string{"rotated-record.cbor", "chained-record.cbor"} {
		if s, err := DecodeSigned(readVector(f, name)); err == nil {
			f.Add(s.Body)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := VerifyRecord(data); err == nil {
			if _, err := r.Chain(); err != nil {
				t.Fatalf("a verified record's chain does not verify: %v", err)
			}
			if _, err := DecodeRecord(r.Encode()); err != nil {
				t.Fatalf("a verified record does not re-decode: %v", err)
			}
		}
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzMessage(f *testing.F) {
	addVectors(f, "message.cbor", "streamed-message.cbor")
	for _, name := range []string{"message.cbor", "streamed-message.cbor"} {
		if s, err := DecodeSigned(readVector(f, name)); err == nil {
			f.Add(s.Body)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		VerifyMessage(data)
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzEnvelope(f *testing.F) {
	addVectors(f, "envelope.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzKEMSecret(f *testing.F) {
	f.Add((&KEMSecret{Seed: make([]byte, KEMSeedSize), Created: 1, Expires: 2}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := DecodeKEMSecret(data)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzFrame(f *testing.F) {
	addVectors(f, "frame.bin")
	f.Add([]byte{0, 0, 0, 1, 0xf6})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		p, err := ReadFrame(r, 1<<16)
		if err != nil {
			return
		}
		consumed := data[:len(data)-r.Len()]
		if !bytes.Equal(AppendFrame(nil, p), consumed) {
			t.Fatalf("decode→encode changed %x", consumed)
		}
	})
}

func FuzzRotation(f *testing.F) {
	if r, err := VerifyRecord(readVector(f, "rotated-record.cbor")); err == nil {
		f.Add(r.Rotation)
	}
	if r, err := VerifyRecord(readVector(f, "chained-record.cbor")); err == nil {
		for _, s := range r.Rotations {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		VerifyRotation(data)
		s, err := DecodeSigned(data)
		if err != nil {
			return
		}
		r, err := DecodeRotation(s.Body)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), s.Body) {
			t.Fatalf("decode→encode changed %x", s.Body)
		}
	})
}

func FuzzTombstone(f *testing.F) {
	addVectors(f, "tombstone.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		VerifyTombstone(data)
		s, err := DecodeSigned(data)
		if err != nil {
			return
		}
		ts, err := DecodeTombstone(s.Body)
		if err != nil {
			return
		}
		if !bytes.Equal(ts.Encode(), s.Body) {
			t.Fatalf("decode→encode changed %x", s.Body)
		}
	})
}

func FuzzHostRequest(f *testing.F) {
	f.Add((&HostRequest{Op: OpDeliver, Envelope: readVector(f, "envelope.cbor")}).Encode())
	f.Add((&HostRequest{Op: OpRecord}).Encode())
	f.Add((&HostRequest{Op: OpDeliver, Envelope: []byte{1}, After: make([]byte, MessageIDSize)}).Encode())
	addVectors(f, "host-request-forward.cbor", "host-request-relayed.cbor", "host-request-stream.cbor", "host-request-batch.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeHostRequest(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
		// A host picks how to serve a request by a look at its op.
		if op := PeekHostOp(data); op != r.Op {
			t.Fatalf("PeekHostOp says %d of a request of op %d", op, r.Op)
		}
	})
}

func FuzzHostResponse(f *testing.F) {
	f.Add((&HostResponse{Status: StatusStored}).Encode())
	f.Add((&HostResponse{Status: StatusRefused, Message: "refused by policy"}).Encode())
	f.Add((&HostResponse{Status: StatusStored, Record: readVector(f, "record.cbor")}).Encode())
	addVectors(f, "host-response-batch.cbor")
	addVectors(f, "host-response-send-body.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeHostResponse(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzReceipt(f *testing.F) {
	f.Add((&Receipt{IDs: [][]byte{make([]byte, MessageIDSize), bytes.Repeat([]byte{1}, MessageIDSize)}}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReceipt(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func FuzzDeleteRequest(f *testing.F) {
	addVectors(f, "delete.cbor")
	f.Add((&DeleteRequest{IDs: [][]byte{make([]byte, MessageIDSize)}}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDeleteRequest(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}
