package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDHTPointer(t *testing.T) {
	key := testKey(t, 1)
	r := testRecord(key)
	signed, err := SignRecord(key, r)
	if err != nil {
		t.Fatal(err)
	}
	p := PointTo(r, signed)
	if p.Host != r.Host || p.RecordSeq != 1 || len(p.RecordHash) != 32 {
		t.Fatalf("pointer %+v", p)
	}
	got, err := DecodeDHTPointer(p.Encode())
	if err != nil || got.Host != p.Host || !bytes.Equal(got.RecordHash, p.RecordHash) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if err := got.Matches(r, signed); err != nil {
		t.Errorf("the record it names: %v", err)
	}
	// Another record: a newer one, or the same one signed again over
	// other bytes, a stale one.
	r2 := testRecord(key)
	r2.Seq = 2
	signed2, _ := SignRecord(key, r2)
	older := testRecord(key)
	older.Host = "127.0.0.1:9999"
	signedOlder, _ := SignRecord(key, older)
	for what, tt := range map[string]struct {
		r      *Record
		signed []byte
	}{
		"a record of another seq":   {r2, signed2},
		"a record of another hash":  {older, signedOlder},
		"the record, its bytes cut": {r, signed[:len(signed)-1]},
	} {
		if err := got.Matches(tt.r, tt.signed); !errors.Is(err, ErrDHTMismatch) {
			t.Errorf("%s: %v", what, err)
		}
	}

	// Through a relay.
	r.Via = bytes.Repeat([]byte{9}, KeySize)
	if p := PointTo(r, signed); !bytes.Equal(p.Via, r.Via) {
		t.Errorf("via %x", p.Via)
	}

	for what, bad := range map[string]*DHTPointer{
		"no host":                 {RecordSeq: 1, RecordHash: p.RecordHash},
		"a long host":             {Host: strings.Repeat("a", MaxHostLen+1), RecordSeq: 1, RecordHash: p.RecordHash},
		"a short hash":            {Host: "h:1", RecordSeq: 1, RecordHash: p.RecordHash[:31]},
		"a relay key of 31 bytes": {Host: "h:1", Via: make([]byte, 31), RecordHash: p.RecordHash},
	} {
		if _, err := DecodeDHTPointer(bad.Encode()); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v", what, err)
		}
	}
}

func FuzzDHTPointer(f *testing.F) {
	addVectors(f, "dht-pointer.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeDHTPointer(data)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}
