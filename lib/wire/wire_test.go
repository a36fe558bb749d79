package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

const vectorDir = "../../testdata/vectors"

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testRecord(key ed25519.PrivateKey) *Record {
	return &Record{
		Name: "alice", Identity: key.Public().(ed25519.PublicKey),
		KEM:  KEMPublic{ID: make([]byte, KEMKeyIDSize), Key: make([]byte, KEMPublicKeySize), Expires: 2000},
		Host: "127.0.0.1:7447", Seq: 1, Issued: 1000, Expires: 3000,
	}
}

func TestVectorsDecode(t *testing.T) {
	if _, err := VerifyRecord(readVector(t, "record.cbor")); err != nil {
		t.Errorf("record: %v", err)
	}
	if _, err := VerifyMessage(readVector(t, "message.cbor")); err != nil {
		t.Errorf("message: %v", err)
	}
	env := readVector(t, "envelope.cbor")
	if _, err := DecodeEnvelope(env); err != nil {
		t.Errorf("envelope: %v", err)
	}
	payload, err := ReadFrame(bytes.NewReader(readVector(t, "frame.bin")), 1<<20)
	if err != nil || !bytes.Equal(payload, env) {
		t.Errorf("frame: %v", err)
	}
}

func TestRecordSignVerify(t *testing.T) {
	key := testKey(t, 1)
	data, err := SignRecord(key, testRecord(key))
	if err != nil {
		t.Fatal(err)
	}
	r, err := VerifyRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "alice" || r.Seq != 1 {
		t.Fatalf("decoded %+v", r)
	}

	// A record signed by a key other than the one it names.
	if _, err := SignRecord(testKey(t, 2), testRecord(key)); err == nil {
		t.Error("SignRecord with a foreign key succeeded")
	}
	body := testRecord(key).Encode()
	forged, err := Sign(testKey(t, 2), PurposeRecord, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRecord(forged.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("record signed by another key: %v", err)
	}
	// A message signature is not a record signature.
	wrongPurpose, err := Sign(key, PurposeMessage, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRecord(wrongPurpose.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("record signed for the message purpose: %v", err)
	}
	// Any change to the signed bytes breaks the signature.
	s, err := DecodeSigned(data)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "evil.example:1"
	s.Body = r.Encode()
	if _, err := VerifyRecord(s.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered record: %v", err)
	}
}

func TestRecordVia(t *testing.T) {
	key := testKey(t, 1)
	r := testRecord(key)
	r.Via = testKey(t, 2).Public().(ed25519.PublicKey)
	data, err := SignRecord(key, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyRecord(data)
	if err != nil || !bytes.Equal(got.Via, r.Via) {
		t.Fatalf("a record with a relay: %+v, %v", got, err)
	}
	for name, change := range map[string]func(*Record){
		"a relay key of 31 bytes": func(r *Record) { r.Via = r.Via[1:] },
		"a relay without a host":  func(r *Record) { r.Host = "" },
		"the record's own key":    func(r *Record) { r.Via = r.Identity },
	} {
		bad := testRecord(key)
		bad.Via = r.Via
		change(bad)
		if _, err := DecodeRecord(bad.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	key := testKey(t, 1)
	good := testRecord(key)
	good.V = Version
	enc := good.Encode()

	asMap := func() map[uint64]any {
		var m map[uint64]any
		if err := cbor.Unmarshal(enc, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	withField := func(k uint64, v any) []byte {
		m := asMap()
		m[k] = v
		return encMap(t, m)
	}

	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"truncated", enc[:len(enc)-3], ErrTruncated},
		{"trailing", append(bytes.Clone(enc), 0xf6), ErrTrailingData},
		{"unknown field", withField(99, 1), ErrMalformed},
		{"short identity key", withField(2, []byte{1, 2, 3}), ErrMalformed},
		{"long name", withField(1, strings.Repeat("a", MaxNameLen+1)), ErrTooLarge},
		{"wrong type", withField(5, "one"), ErrMalformed},
		{"negative time", withField(6, -1), ErrMalformed},
		{"not a map", []byte{0x80}, ErrMalformed},
		{"indefinite length", indefinite(enc), ErrMalformed},
		{"non-minimal integer", nonMinimalSeq(t, enc), ErrNonCanonical},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeRecord(c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodeRecord = %+v, %v; want %v", r, err, c.want)
			}
		})
	}

	t.Run("unknown version", func(t *testing.T) {
		_, err := DecodeRecord(withField(0, 7))
		var v *UnknownVersionError
		if !errors.As(err, &v) || v.Version != 7 || v.What != "record" {
			t.Fatalf("err = %v, want *UnknownVersionError{record, 7}", err)
		}
		if !strings.Contains(err.Error(), "unknown version 7") {
			t.Fatalf("message %q does not say the version", err)
		}
	})
	t.Run("duplicate key", func(t *testing.T) {
		// {0: 1, 0: 1, ...}: the map header counts one more pair.
		dup := append([]byte{enc[0] + 1, 0x00, 0x01}, enc[1:]...)
		if _, err := DecodeRecord(dup); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
	})
	if _, err := DecodeRecord(enc); err != nil {
		t.Fatalf("the unaltered record: %v", err)
	}
}

func encMap(t *testing.T, m map[uint64]any) []byte {
	t.Helper()
	b, err := encMode.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indefinite turns a definite-length map into an indefinite-length one.
func indefinite(enc []byte) []byte {
	out := append([]byte{0xbf}, enc[1:]...)
	return append(out, 0xff)
}

// nonMinimalSeq re-encodes the record with its sequence number (key 5, value
// 1) in two bytes instead of one.
func nonMinimalSeq(t *testing.T, enc []byte) []byte {
	i := bytes.Index(enc, []byte{0x05, 0x01, 0x06})
	if i < 0 {
		t.Fatal("sequence number not found")
	}
	out := append(bytes.Clone(enc[:i+1]), 0x18, 0x01)
	return append(out, enc[i+2:]...)
}

func TestMessageValidation(t *testing.T) {
	key := testKey(t, 3)
	m := &Message{
		Sender: key.Public().(ed25519.PublicKey), Recipient: make([]byte, KeySize), KEMKeyID: make([]byte, KEMKeyIDSize),
		ID: make([]byte, MessageIDSize), Sent: 1, Kind: KindText, Body: []byte("hi"),
	}
	data, err := SignMessage(key, m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyMessage(data); err != nil || string(got.Body) != "hi" || len(got.Chain) != 0 {
		t.Fatalf("VerifyMessage = %+v, %v", got, err)
	}
	bad := *m
	bad.Kind = 77
	if _, err := SignMessage(key, &bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown kind: %v", err)
	}
	bad = *m
	bad.Chain = []byte{1}
	if _, err := SignMessage(key, &bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("short chain hash: %v", err)
	}
	if _, err := SignMessage(testKey(t, 4), m); err == nil {
		t.Error("signing with a key other than the sender's succeeded")
	}
	if KindFile.String() != "file" || Kind(99).String() != "kind(99)" {
		t.Error("Kind.String")
	}

	// A streamed body: its key, size and hash are signed; the inline body
	// is empty, and only text and file messages stream.
	streamed := *m
	streamed.Body = nil
	streamed.Stream = &BodyStream{Key: bytes.Repeat([]byte{1}, 32), Size: 5 << 20, Hash: bytes.Repeat([]byte{2}, HashSize)}
	data, err = SignMessage(key, &streamed)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyMessage(data); err != nil || got.Stream == nil || got.Stream.Size != 5<<20 {
		t.Fatalf("streamed message: %+v, %v", got, err)
	}
	for name, change := range map[string]func(*Message){
		"inline body too": func(m *Message) { m.Body = []byte("x") },
		"receipt":         func(m *Message) { m.Kind = KindReceipt },
		"short key":       func(m *Message) { m.Stream.Key = m.Stream.Key[1:] },
		"short hash":      func(m *Message) { m.Stream.Hash = m.Stream.Hash[1:] },
		"size 0":          func(m *Message) { m.Stream.Size = 0 },
		"size over 1 TiB": func(m *Message) { m.Stream.Size = MaxStreamSize + 1 },
		"negative size":   func(m *Message) { m.Stream.Size = -1 },
	} {
		bad := streamed
		s := *streamed.Stream
		bad.Stream = &s
		change(&bad)
		if _, err := SignMessage(key, &bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("streamed, %s: %v", name, err)
		}
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range [][]byte{{1}, bytes.Repeat([]byte{2}, 1000)} {
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatal(err)
		}
	}
	stream := bytes.Clone(buf.Bytes())
	for _, want := range []int{1, 1000} {
		p, err := ReadFrame(&buf, 1000)
		if err != nil || len(p) != want {
			t.Fatalf("ReadFrame = %d bytes, %v; want %d", len(p), err, want)
		}
	}
	if _, err := ReadFrame(&buf, 1000); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	cases := []struct {
		name  string
		data  []byte
		limit int
		want  error
	}{
		{"over the limit", stream[5:], 999, ErrTooLarge},
		{"truncated header", []byte{0, 0}, 10, ErrTruncated},
		{"truncated payload", stream[5 : len(stream)-1], 1000, ErrTruncated},
		{"empty frame", []byte{0, 0, 0, 0}, 10, ErrMalformed},
	}
	for _, c := range cases {
		if _, err := ReadFrame(bytes.NewReader(c.data), c.limit); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The limit is checked before allocating: a header claiming 4 GiB on a
	// short stream fails at once rather than allocating it.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 1}), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 4 GiB frame header: %v", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("an oversized frame header cost %d bytes of allocation", n)
	}
	if err := WriteFrame(io.Discard, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("writing an empty frame: %v", err)
	}
}

func TestChainHash(t *testing.T) {
	a, b := ChainHash([]byte("one")), ChainHash([]byte("two"))
	if len(a) != HashSize || bytes.Equal(a, b) {
		t.Fatal("ChainHash")
	}
}

func TestRotationAndTombstone(t *testing.T) {
	old, next := testKey(t, 1), testKey(t, 2)
	rot := &Rotation{Old: old.Public().(ed25519.PublicKey), New: next.Public().(ed25519.PublicKey), Issued: 5}
	stmt, err := SignRotation(old, rot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignRotation(next, rot); err == nil {
		t.Error("a rotation signed by the new key was made")
	}
	rec := testRecord(next)
	rec.Rotation = stmt
	data, err := SignRecord(next, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyRecord(data)
	if err != nil || !bytes.Equal(got.RotatedFrom(), rot.Old) {
		t.Fatalf("rotated record: %v", err)
	}
	if testRecord(next).RotatedFrom() != nil {
		t.Error("RotatedFrom of a record without rotation")
	}

	// The statement must name the record's key as the new one...
	other := testRecord(testKey(t, 3))
	other.Rotation = stmt
	data, err = SignRecord(testKey(t, 3), other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRecord(data); !errors.Is(err, ErrMalformed) {
		t.Errorf("rotation naming another key: %v", err)
	}
	// ...and be signed by the old one.
	forged, err := Sign(next, PurposeRotation, rot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	rec.Rotation = forged.Encode()
	data, err = SignRecord(next, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRecord(data); !errors.Is(err, ErrBadSignature) {
		t.Errorf("rotation signed by the new key: %v", err)
	}
	if _, err := SignRotation(old, &Rotation{Old: rot.Old, New: rot.Old, Issued: 5}); !errors.Is(err, ErrMalformed) {
		t.Errorf("rotation to the same key: %v", err)
	}

	ts := &Tombstone{Name: "alice", Identity: rot.Old, Seq: 9, Issued: 5}
	tdata, err := SignTombstone(old, ts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyTombstone(tdata); err != nil || got.Seq != 9 || got.Name != "alice" {
		t.Fatalf("tombstone: %+v, %v", got, err)
	}
	if _, err := SignTombstone(next, ts); err == nil {
		t.Error("a tombstone signed by another key was made")
	}
	// A record signature is not a tombstone signature.
	asRecord, err := Sign(old, PurposeRecord, ts.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyTombstone(asRecord.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tombstone signed for the record purpose: %v", err)
	}
}

func TestHostProtocol(t *testing.T) {
	req := &HostRequest{Op: OpDeliver, Envelope: []byte{1, 2, 3}}
	got, err := DecodeHostRequest(req.Encode())
	if err != nil || !bytes.Equal(got.Envelope, req.Envelope) {
		t.Fatalf("host request: %+v, %v", got, err)
	}
	if got, err := DecodeHostRequest((&HostRequest{Op: OpRecord}).Encode()); err != nil || got.Op != OpRecord {
		t.Errorf("record request: %+v, %v", got, err)
	}
	if _, err := DecodeHostRequest((&HostRequest{Op: OpRecord, Envelope: []byte{1}}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("record request with an envelope: %v", err)
	}
	if got, err := DecodeHostResponse((&HostResponse{Status: StatusStored, Record: []byte{1, 2}}).Encode()); err != nil || len(got.Record) != 2 {
		t.Errorf("record response: %+v, %v", got, err)
	}
	if _, err := DecodeHostResponse((&HostResponse{Status: StatusStored, Record: make([]byte, MaxHostRecordSize+1)}).Encode()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized record response: %v", err)
	}
	after := bytes.Repeat([]byte{9}, MessageIDSize)
	if got, err := DecodeHostRequest((&HostRequest{Op: OpDeliver, Envelope: []byte{1}, After: after}).Encode()); err != nil || !bytes.Equal(got.After, after) {
		t.Errorf("host request with after: %+v, %v", got, err)
	}
	for _, bad := range []*HostRequest{
		{Op: OpDeliver, Envelope: []byte{1}, After: after[1:]},
		{Op: OpRecord, After: after},
	} {
		if _, err := DecodeHostRequest(bad.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("host request with after %x, op %d: %v", bad.After, bad.Op, err)
		}
	}
	// Forwarding through a relay: a peer key and the request passed on,
	// nothing else.
	peer, inner := bytes.Repeat([]byte{7}, KeySize), (&HostRequest{Op: OpRecord}).Encode()
	for _, op := range []HostOp{OpForward, OpRelayed} {
		got, err := DecodeHostRequest((&HostRequest{Op: op, Peer: peer, Request: inner}).Encode())
		if err != nil || !bytes.Equal(got.Peer, peer) || !bytes.Equal(got.Request, inner) {
			t.Errorf("op %d: %+v, %v", op, got, err)
		}
		for _, bad := range []*HostRequest{
			{Op: op, Request: inner},
			{Op: op, Peer: peer[1:], Request: inner},
			{Op: op, Peer: peer},
			{Op: op, Peer: peer, Request: inner, Envelope: []byte{1}},
			{Op: op, Peer: peer, Request: inner, After: after},
		} {
			if _, err := DecodeHostRequest(bad.Encode()); !errors.Is(err, ErrMalformed) {
				t.Errorf("op %d with peer %x, request %x, envelope %x, after %x: %v", op, bad.Peer, bad.Request, bad.Envelope, bad.After, err)
			}
		}
	}
	for _, bad := range []*HostRequest{
		{Op: OpDeliver, Envelope: []byte{1}, Peer: peer},
		{Op: OpRecord, Request: inner},
	} {
		if _, err := DecodeHostRequest(bad.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("op %d with a peer or a request: %v", bad.Op, err)
		}
	}
	if _, err := DecodeHostRequest((&HostRequest{Op: 9, Envelope: []byte{1}}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown op: %v", err)
	}
	for s := StatusStored; s <= StatusSendBody; s++ {
		resp, err := DecodeHostResponse((&HostResponse{Status: s, Message: s.String()}).Encode())
		if err != nil || resp.Status != s {
			t.Fatalf("status %v: %v", s, err)
		}
	}
	if !StatusDuplicate.Accepted() || StatusBusy.Accepted() || HostStatus(99).String() != "status(99)" {
		t.Error("HostStatus methods")
	}
	if _, err := DecodeHostResponse((&HostResponse{Status: 12}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown status: %v", err)
	}
	// From goes with send body alone; a streamed delivery is op 1's twin.
	if got, err := DecodeHostResponse((&HostResponse{Status: StatusSendBody, From: 7}).Encode()); err != nil || got.From != 7 {
		t.Errorf("send body from 7: %+v, %v", got, err)
	}
	if _, err := DecodeHostResponse((&HostResponse{Status: StatusStored, From: 7}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("from with status stored: %v", err)
	}
	if got, err := DecodeHostRequest((&HostRequest{Op: OpDeliverStream, Envelope: []byte{1}, After: after}).Encode()); err != nil || got.Op != OpDeliverStream {
		t.Errorf("op 5: %+v, %v", got, err)
	}
	if _, err := DecodeHostRequest((&HostRequest{Op: OpDeliverStream}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("op 5 without an envelope: %v", err)
	}
	// A push: the message id, and nothing else.
	id := bytes.Repeat([]byte{5}, MessageIDSize)
	if got, err := DecodeHostRequest((&HostRequest{Op: OpPushBody, ID: id}).Encode()); err != nil || !bytes.Equal(got.ID, id) {
		t.Errorf("op 6: %+v, %v", got, err)
	}
	for _, bad := range []*HostRequest{
		{Op: OpPushBody},
		{Op: OpPushBody, ID: id[1:]},
		{Op: OpPushBody, ID: id, Envelope: []byte{1}},
		{Op: OpPushBody, ID: id, After: id},
		{Op: OpDeliverStream, Envelope: []byte{1}, ID: id},
	} {
		if _, err := DecodeHostRequest(bad.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("op %d with id %x, envelope %x, after %x: %v", bad.Op, bad.ID, bad.Envelope, bad.After, err)
		}
	}

	ids := make([][]byte, MaxReceiptIDs)
	for i := range ids {
		ids[i] = bytes.Repeat([]byte{byte(i)}, MessageIDSize)
	}
	r, err := DecodeReceipt((&Receipt{IDs: ids}).Encode())
	if err != nil || len(r.IDs) != MaxReceiptIDs {
		t.Fatalf("full receipt: %v", err)
	}
	if _, err := DecodeReceipt((&Receipt{IDs: append(ids, ids[0])}).Encode()); err == nil {
		t.Error("a receipt over the limit decoded")
	}
	if _, err := DecodeReceipt((&Receipt{IDs: [][]byte{{1}}}).Encode()); !errors.Is(err, ErrMalformed) {
		t.Errorf("short id: %v", err)
	}
}

// TestBatch: an OpDeliverBatch carries 1 to MaxBatch envelopes, each with
// an optional after, and nothing else; its answer carries one result for
// each, with status stored, and no result a status of its own can't be.
func TestBatch(t *testing.T) {
	after := bytes.Repeat([]byte{9}, MessageIDSize)
	good := &HostRequest{Op: OpDeliverBatch, Batch: []BatchItem{{Envelope: []byte{1}}, {Envelope: []byte{2}, After: after}}}
	got, err := DecodeHostRequest(good.Encode())
	if err != nil || len(got.Batch) != 2 || !bytes.Equal(got.Batch[1].After, after) || got.Batch[0].After != nil {
		t.Fatalf("batch: %+v, %v", got, err)
	}
	full := make([]BatchItem, MaxBatch+1)
	for i := range full {
		full[i] = BatchItem{Envelope: []byte{1}}
	}
	if _, err := DecodeHostRequest((&HostRequest{Op: OpDeliverBatch, Batch: full[:MaxBatch]}).Encode()); err != nil {
		t.Errorf("a batch of %d: %v", MaxBatch, err)
	}
	for i, bad := range []*HostRequest{
		{Op: OpDeliverBatch},
		{Op: OpDeliverBatch, Batch: full},
		{Op: OpDeliverBatch, Batch: []BatchItem{{}}},
		{Op: OpDeliverBatch, Batch: []BatchItem{{Envelope: []byte{1}, After: after[1:]}}},
		{Op: OpDeliverBatch, Batch: good.Batch, Envelope: []byte{1}},
		{Op: OpDeliverBatch, Batch: good.Batch, After: after},
		{Op: OpDeliver, Envelope: []byte{1}, Batch: good.Batch},
	} {
		if _, err := DecodeHostRequest(bad.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad batch %d: %v", i, err)
		}
	}
	results := []BatchResult{{Status: StatusStored}, {Status: StatusBusy, Message: "later"}}
	if r, err := DecodeHostResponse((&HostResponse{Status: StatusStored, Results: results}).Encode()); err != nil || len(r.Results) != 2 || r.Results[1].Message != "later" {
		t.Errorf("batch answer: %+v, %v", r, err)
	}
	for i, bad := range []*HostResponse{
		{Status: StatusBusy, Results: results},
		{Status: StatusStored, Results: []BatchResult{{}}},
		{Status: StatusStored, Results: []BatchResult{{Status: StatusSendBody}}},
		{Status: StatusStored, Results: []BatchResult{{Status: StatusStored, Message: strings.Repeat("x", 1025)}}},
		{Status: StatusStored, Results: make([]BatchResult, MaxBatch+1)},
	} {
		if _, err := DecodeHostResponse(bad.Encode()); err == nil {
			t.Errorf("bad batch answer %d decoded", i)
		}
	}
}
