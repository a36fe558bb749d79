package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCallVectors checks the call vectors byte for byte: the signal
// decodes and re-encodes to the same bytes, and the message carrying it
// is a signed call message with no chain.
func TestCallVectors(t *testing.T) {
	data := readVector(t, "call-signal.cbor")
	s, err := DecodeCallSignal(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != SignalOffer || string(s.CallID) != "0123456789abcdef" ||
		!strings.Contains(s.SDP, "\r\na=fingerprint:sha-256 2D:AD:EB:A6:") || s.Candidate != "" || s.Reason != "" {
		t.Errorf("call signal vector: %+v", s)
	}
	if !bytes.Equal(s.Encode(), data) {
		t.Error("call signal vector: re-encoding changed it")
	}
	// 0x00 v=1, 0x01 call id (16 bytes), 0x02 type=1, 0x03 SDP.
	if !bytes.HasPrefix(data, []byte{0xa4, 0x00, 0x01, 0x01, 0x50, '0', '1'}) {
		t.Errorf("call signal vector begins % x", data[:8])
	}

	m, err := VerifyMessage(readVector(t, "call-message.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindCall || len(m.Chain) != 0 || !bytes.Equal(m.Body, data) || m.ContentType != "" {
		t.Errorf("call message vector: %+v", m)
	}
}

func TestCallSignalValidation(t *testing.T) {
	id := bytes.Repeat([]byte{7}, CallIDSize)
	for _, s := range []*CallSignal{
		{CallID: id, Type: SignalOffer, SDP: "v=0"},
		{CallID: id, Type: SignalAnswer, SDP: "v=0"},
		{CallID: id, Type: SignalCandidate, Candidate: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`},
		{CallID: id, Type: SignalHangup},
		{CallID: id, Type: SignalReject, Reason: "no"},
		{CallID: id, Type: SignalBusy},
		{CallID: id, Type: SignalUnavailable, Reason: strings.Repeat("x", MaxSignalText)},
		{CallID: id, Type: SignalRinging},
		{CallID: id, Type: SignalTaken},
	} {
		got, err := DecodeCallSignal(s.Encode())
		if err != nil || got.Type != s.Type || got.SDP != s.SDP || got.Candidate != s.Candidate || got.Reason != s.Reason {
			t.Errorf("%v: %+v, %v", s.Type, got, err)
		}
	}
	for name, s := range map[string]*CallSignal{
		"unknown type":       {CallID: id, Type: 10},
		"type 0":             {CallID: id},
		"short call id":      {CallID: id[:15], Type: SignalHangup},
		"no call id":         {Type: SignalHangup},
		"offer without SDP":  {CallID: id, Type: SignalOffer},
		"answer without SDP": {CallID: id, Type: SignalAnswer},
		"empty candidate":    {CallID: id, Type: SignalCandidate},
		"long SDP":           {CallID: id, Type: SignalOffer, SDP: strings.Repeat("x", MaxSignalText+1)},
		"long candidate":     {CallID: id, Type: SignalCandidate, Candidate: strings.Repeat("x", MaxSignalText+1)},
		"long reason":        {CallID: id, Type: SignalHangup, Reason: strings.Repeat("x", MaxSignalText+1)},
	} {
		s.V = Version
		if _, err := DecodeCallSignal(encode(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if SignalTaken.String() != "taken" || SignalType(42).String() != "signal(42)" {
		t.Error("SignalType.String")
	}
}

func TestCallSignalStrict(t *testing.T) {
	id := bytes.Repeat([]byte{7}, CallIDSize)
	valid := (&CallSignal{CallID: id, Type: SignalHangup}).Encode()
	var uve *UnknownVersionError
	if _, err := DecodeCallSignal(encMap(t, map[uint64]any{0: 2, 1: id, 2: 4})); !errors.As(err, &uve) {
		t.Errorf("version 2: %v", err)
	}
	if _, err := DecodeCallSignal(encMap(t, map[uint64]any{0: 1, 1: id, 2: 4, 9: 1})); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := DecodeCallSignal(append(valid, 0)); !errors.Is(err, ErrTrailingData) {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := DecodeCallSignal(valid[:len(valid)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := DecodeCallSignal(encMap(t, map[uint64]any{0: 1, 1: id, 2: 4, 5: ""})); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("empty reason encoded: %v", err)
	}
}

// FuzzCallSignal checks that the call signal decoder never panics and
// that whatever it accepts re-encodes to the same bytes.
func FuzzCallSignal(f *testing.F) {
	addVectors(f, "call-signal.cbor")
	id := bytes.Repeat([]byte{7}, CallIDSize)
	f.Add((&CallSignal{CallID: id, Type: SignalCandidate, Candidate: `{"candidate":"x"}`}).Encode())
	f.Add((&CallSignal{CallID: id, Type: SignalHangup, Reason: "bye"}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeCallSignal(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}
