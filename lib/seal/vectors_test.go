package seal

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"smvs/lib/bep44"
	"smvs/lib/blob"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/vectors")

// vectorDir holds the golden vectors doc/PROTOCOL.md describes.
const vectorDir = "../../testdata/vectors"

// vectorTime is the fixed clock of the vectors.
var vectorTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// vectorSDP is the SDP of the call-signal vector: a WebRTC offer cut to
// what matters, with the DTLS fingerprint a host must not be able to swap.
const vectorSDP = "v=0\r\n" +
	"o=- 1767323045 1 IN IP4 0.0.0.0\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=fingerprint:sha-256 2D:AD:EB:A6:3C:8E:A0:3A:8A:09:4C:FB:F7:1F:F5:22:BD:B6:8F:E4:58:5E:59:38:A4:2E:CC:18:B3:22:4B:74\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=ice-ufrag:smvs\r\n" +
	"a=ice-pwd:smvsvectorpassword0123\r\n" +
	"a=rtpmap:96 VP8/90000\r\n"

// vectorAbsentID is the second id of the delete vector: a message bob's
// host never had, which it ignores.
var vectorAbsentID = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// transcriptVector is the text of transcript.txt (PROTOCOL.md section
// 16.1): bob's conversation with alice holds the message the chain of
// message.cbor names (prev) and message.cbor itself (last). The hashes are
// listed as a host might collect them, unsorted and with a repeat, which
// the fingerprint must not see.
func transcriptVector(prev, last []byte) []byte {
	hashes := [][]byte{prev, last, prev}
	var b bytes.Buffer
	for _, h := range hashes {
		fmt.Fprintf(&b, "chain %x\n", h)
	}
	fp := wire.TranscriptFingerprint(hashes)
	fmt.Fprintf(&b, "fingerprint %x\n", fp)
	fmt.Fprintf(&b, "digits %s\n", wire.FingerprintDigits(fp))
	return b.Bytes()
}

// makeVectors regenerates every vector from fixed randomness and a fixed
// clock. It returns the files by name.
func makeVectors(t *testing.T) map[string][]byte {
	cryptotest.SetGlobalRandom(t, 1)
	alice, err := identity.Generate(identity.KindIdentity, vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := identity.Generate(identity.KindIdentity, vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	device, err := identity.Generate(identity.KindDevice, vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := bob.CurrentKEM(vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	bobRecord := &wire.Record{
		Name: "bob", Identity: bob.Public().Bytes(), KEM: kem.Public(), Host: "bob.example.net:7447",
		Seq: 1, Issued: vectorTime.UnixMilli(), Expires: vectorTime.Add(90 * 24 * time.Hour).UnixMilli(),
	}
	signedRecord, err := wire.SignRecord(bob.Signer(), bobRecord)
	if err != nil {
		t.Fatal(err)
	}
	// bob's item in the DHT (PROTOCOL.md 24): a pointer to his record,
	// signed by his identity key.
	dhtPointer := wire.PointTo(bobRecord, signedRecord).Encode()
	dhtItem, err := bep44.Sign(bob.Signer(), []byte(wire.DHTSalt), int64(bobRecord.Seq), bep44.String(dhtPointer))
	if err != nil {
		t.Fatal(err)
	}
	m := &wire.Message{
		Sent: vectorTime.UnixMilli(), Kind: wire.KindText, ContentType: "text/plain; charset=utf-8",
		Body: []byte("hi bob"), Chain: wire.ChainHash([]byte("the previous signed message")),
	}
	sealed, err := Seal(alice.Signer(), bobRecord, m, vectorTime)
	if err != nil {
		t.Fatal(err)
	}

	// Alice moves to a new identity key; the old one signs the rotation.
	alice2, err := identity.Generate(identity.KindIdentity, vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	rotation, err := wire.SignRotation(alice.Signer(), &wire.Rotation{
		Old: alice.Public().Bytes(), New: alice2.Public().Bytes(), Issued: vectorTime.UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	kem2, err := alice2.CurrentKEM(vectorTime)
	if err != nil {
		t.Fatal(err)
	}
	rotatedRecord, err := wire.SignRecord(alice2.Signer(), &wire.Record{
		Name: "alice", Identity: alice2.Public().Bytes(), KEM: kem2.Public(), Host: "alice.example.net:7447",
		Seq: 2, Issued: vectorTime.UnixMilli(), Expires: vectorTime.Add(90 * 24 * time.Hour).UnixMilli(),
		Rotation: rotation,
	})
	if err != nil {
		t.Fatal(err)
	}
	tombstone, err := wire.SignTombstone(bob.Signer(), &wire.Tombstone{
		Name: "bob", Identity: bob.Public().Bytes(), Seq: 2, Issued: vectorTime.UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}

	// The host and device protocols. They draw no randomness, so they come
	// last only by convention: vectors added later must not consume the
	// random stream before the ones above.
	hostRequest := (&wire.HostRequest{Op: wire.OpDeliver, Envelope: sealed.Envelope}).Encode()
	hostResponse := (&wire.HostResponse{Status: wire.StatusStored}).Encode()
	receipt := (&wire.Receipt{IDs: [][]byte{m.ID}}).Encode()
	// Relays (PROTOCOL.md 19.9): bob's record naming a relay, whose key
	// here is alice's; alice's request that it forward host-request.cbor
	// to bob, and the relay passing it on to bob's host as from alice.
	// Ed25519 signatures draw no randomness.
	relayedRecord := *bobRecord
	relayedRecord.Host, relayedRecord.Via, relayedRecord.Seq = "relay.example.net:7447", alice.Public().Bytes(), 2
	signedRelayedRecord, err := wire.SignRecord(bob.Signer(), &relayedRecord)
	if err != nil {
		t.Fatal(err)
	}
	forwardRequest := (&wire.HostRequest{Op: wire.OpForward, Peer: bob.Public().Bytes(), Request: hostRequest}).Encode()
	relayedRequest := (&wire.HostRequest{Op: wire.OpRelayed, Peer: alice.Public().Bytes(), Request: hostRequest}).Encode()
	var deviceRequest bytes.Buffer
	if err := hostapi.WriteRequest(&deviceRequest, &hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{
		To: "bob", Kind: wire.KindText, ContentType: "text/plain; charset=utf-8", Body: []byte("hi bob"),
	}}); err != nil {
		t.Fatal(err)
	}

	// Linking a device: a link request with a pairing code, and the
	// owner's answer to a pair request. No randomness either.
	var linkRequest, pairResponse bytes.Buffer
	if err := hostapi.WriteRequest(&linkRequest, &hostapi.Request{Op: hostapi.OpLink, Link: &hostapi.Link{
		Code: "7K2M-QX9P-4TRD-HB3W", Name: "laptop",
	}}); err != nil {
		t.Fatal(err)
	}
	if err := hostapi.WriteResponse(&pairResponse, &hostapi.Response{Devices: &hostapi.DevicesResult{Pairing: &hostapi.Pairing{
		Code: "7K2M-QX9P-4TRD-HB3W", Name: "laptop", Expires: vectorTime.Add(10 * time.Minute).UnixMilli(),
		Address: "192.0.2.7:7447", Identity: alice.Public().Bytes(),
	}}}); err != nil {
		t.Fatal(err)
	}

	// Call signalling: an offer, and the message from alice to bob that
	// carries it. Neither draws randomness (the ids are fixed).
	callSignal := (&wire.CallSignal{
		CallID: []byte("0123456789abcdef"), Type: wire.SignalOffer, SDP: vectorSDP,
	}).Encode()
	// The same offer naming a STUN server the callee may ask for its
	// public address (PROTOCOL.md 21.10), at the session level.
	callOfferSTUN := (&wire.CallSignal{
		CallID: []byte("0123456789abcdef"), Type: wire.SignalOffer,
		SDP: strings.Replace(vectorSDP, "t=0 0\r\n", "t=0 0\r\na=smvs-stun:192.0.2.1:3478\r\n", 1),
	}).Encode()
	callMessage, err := wire.SignMessage(alice.Signer(), &wire.Message{
		Sender: alice.Public().Bytes(), Recipient: bob.Public().Bytes(), KEMKeyID: kem.Public().ID,
		ID: bytes.Repeat([]byte{0xca}, wire.MessageIDSize), Sent: vectorTime.UnixMilli(), Kind: wire.KindCall,
		Body: callSignal,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deletion and integrity: alice asks bob's host to delete message.cbor
	// (and a message it never got); the same ids in a device's request and
	// in the event its host then sends; the transcript fingerprint of bob's
	// conversation with alice. None draws randomness.
	deleteBody := (&wire.DeleteRequest{IDs: [][]byte{m.ID, vectorAbsentID}}).Encode()
	deleteMessage, err := wire.SignMessage(alice.Signer(), &wire.Message{
		Sender: alice.Public().Bytes(), Recipient: bob.Public().Bytes(), KEMKeyID: kem.Public().ID,
		ID: bytes.Repeat([]byte{0xde}, wire.MessageIDSize), Sent: vectorTime.UnixMilli(), Kind: wire.KindDelete,
		Body: deleteBody,
	})
	if err != nil {
		t.Fatal(err)
	}
	var deleteRequest, deletedEvent bytes.Buffer
	if err := hostapi.WriteRequest(&deleteRequest, &hostapi.Request{Op: hostapi.OpDelete, Delete: &hostapi.Delete{
		Seqs: []uint64{7, 300}, ForEveryone: true,
	}}); err != nil {
		t.Fatal(err)
	}
	if err := hostapi.WriteResponse(&deletedEvent, &hostapi.Response{Event: &hostapi.Event{
		Kind: hostapi.EventDeleted, Deleted: []uint64{7, 300},
	}}); err != nil {
		t.Fatal(err)
	}
	transcript := transcriptVector(m.Chain, wire.ChainHash(sealed.Signed))

	// Names: message.cbor as bob's device is told it when alice is no
	// contact of bob's and her record claims "frank" (PROTOCOL.md 20.3):
	// claimed_name, never peer_name. No randomness.
	var strangerEvent bytes.Buffer
	if err := hostapi.WriteResponse(&strangerEvent, &hostapi.Response{Event: &hostapi.Event{
		Kind: hostapi.EventMessage, Item: &hostapi.Item{
			Seq: 7, ID: m.ID, Direction: delivery.In, Peer: alice.Public().Bytes(), ClaimedName: "frank",
			Sent: vectorTime.UnixMilli(), Stored: vectorTime.UnixMilli() + 1500, Kind: wire.KindText,
			Body: []byte("hi bob"), Status: delivery.Received,
		},
	}}); err != nil {
		t.Fatal(err)
	}

	// Streamed bodies between a device and its host (PROTOCOL.md 23.6):
	// no randomness.
	var bodyRequest, bodyInfo, submitStream bytes.Buffer
	if err := hostapi.WriteRequest(&bodyRequest, &hostapi.Request{Op: hostapi.OpBody, Body: &hostapi.BodyRequest{Seq: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := hostapi.WriteResponse(&bodyInfo, &hostapi.Response{BodyInfo: &hostapi.BodyInfo{Size: 5 << 20}}); err != nil {
		t.Fatal(err)
	}
	if err := hostapi.WriteRequest(&submitStream, &hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{
		To: "bob", Kind: wire.KindFile, ContentType: "application/octet-stream", FileName: "big.bin", Stream: true,
	}}); err != nil {
		t.Fatal(err)
	}

	// Streamed bodies (PROTOCOL.md 23): alice's file message whose body is
	// body.bin (lib/blob's vector), signed (no randomness), then sealed to
	// bob last of all, so that its random draws change no other vector.
	streamed := &wire.Message{
		Sender: alice.Public().Bytes(), Recipient: bob.Public().Bytes(), KEMKeyID: kem.ID(),
		ID: bytes.Repeat([]byte{0x5e}, wire.MessageIDSize), Sent: vectorTime.UnixMilli(), Kind: wire.KindFile,
		FileName: "body.bin", Stream: &wire.BodyStream{Key: bodyKey(), Size: 2*65536 + 5, Hash: bodyHash(t)},
	}
	streamedSigned, err := wire.SignMessage(alice.Signer(), streamed)
	if err != nil {
		t.Fatal(err)
	}
	streamedSealed, err := SealSigned(bobRecord, streamed, streamedSigned, vectorTime)
	if err != nil {
		t.Fatal(err)
	}

	return map[string][]byte{
		"streamed-message.cbor":        streamedSigned,
		"streamed-envelope.cbor":       streamedSealed.Envelope,
		"host-request-stream.cbor":     (&wire.HostRequest{Op: wire.OpDeliverStream, Envelope: streamedSealed.Envelope}).Encode(),
		"host-response-send-body.cbor": (&wire.HostResponse{Status: wire.StatusSendBody, From: 2}).Encode(),
		"body-request.cbor":            bodyRequest.Bytes()[wire.FrameHeaderSize:],
		"body-info.cbor":               bodyInfo.Bytes()[wire.FrameHeaderSize:],
		"submit-stream.cbor":           submitStream.Bytes()[wire.FrameHeaderSize:],
		"body-part.cbor":               hostapi.EncodeBodyPart([]byte("hi bob")),
		"delete.cbor":                  deleteBody,
		"delete-message.cbor":          deleteMessage,
		"delete-request.cbor":          deleteRequest.Bytes()[wire.FrameHeaderSize:],
		"deleted-event.cbor":           deletedEvent.Bytes()[wire.FrameHeaderSize:],
		"transcript.txt":               transcript,
		"stranger-event.cbor":          strangerEvent.Bytes()[wire.FrameHeaderSize:],
		"call-signal.cbor":             callSignal,
		"call-message.cbor":            callMessage,
		"call-offer-stun.cbor":         callOfferSTUN,
		"host-request.cbor":            hostRequest,
		"host-request-after.cbor": (&wire.HostRequest{
			Op: wire.OpDeliver, Envelope: sealed.Envelope, After: bytes.Repeat([]byte{0xaf}, wire.MessageIDSize),
		}).Encode(),
		"host-request-batch.cbor": (&wire.HostRequest{Op: wire.OpDeliverBatch, Batch: []wire.BatchItem{
			{Envelope: sealed.Envelope}, {Envelope: sealed.Envelope, After: bytes.Repeat([]byte{0xaf}, wire.MessageIDSize)},
		}}).Encode(),
		"host-response-batch.cbor": (&wire.HostResponse{Status: wire.StatusStored, Results: []wire.BatchResult{
			{Status: wire.StatusStored}, {Status: wire.StatusBusy, Message: "the message sent before this one has not come yet"},
		}}).Encode(),
		"host-request-forward.cbor": forwardRequest,
		"host-request-relayed.cbor": relayedRequest,
		"relayed-record.cbor":       signedRelayedRecord,
		"host-response.cbor":        hostResponse,
		"receipt.cbor":              receipt,
		"device-request.cbor":       deviceRequest.Bytes()[wire.FrameHeaderSize:],
		"link-request.cbor":         linkRequest.Bytes()[wire.FrameHeaderSize:],
		"pair-response.cbor":        pairResponse.Bytes()[wire.FrameHeaderSize:],
		"rotated-record.cbor":       rotatedRecord,
		"tombstone.cbor":            tombstone,
		"alice.identity":            alice.MarshalText(),
		"bob.identity":              bob.MarshalText(),
		"device.identity":           device.MarshalText(),
		"record.cbor":               signedRecord,
		"dht-pointer.cbor":          dhtPointer,
		"dht-item-input.bin":        bep44.SigningInput([]byte(wire.DHTSalt), int64(bobRecord.Seq), bep44.String(dhtPointer)),
		"dht-item-sig.bin":          dhtItem.Sig,
		"message.cbor":              sealed.Signed,
		"envelope.cbor":             sealed.Envelope,
		"frame.bin":                 wire.AppendFrame(nil, sealed.Envelope),
	}
}

// TestVectors regenerates the golden vectors and compares them byte for
// byte with testdata/vectors (go test -run TestVectors -update rewrites
// them), then checks that they decode and open as the protocol says.
func TestVectors(t *testing.T) {
	got := makeVectors(t)
	for name, data := range got {
		path := filepath.Join(vectorDir, name)
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestVectors -update to create it)", err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s: regenerated vector differs from %s", name, path)
		}
	}

	bob, err := identity.ParseText(got["bob.identity"])
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(keys(bob), got["envelope.cbor"], vectorTime)
	if err != nil {
		t.Fatalf("the envelope vector does not open: %v", err)
	}
	if string(o.Message.Body) != "hi bob" || !bytes.Equal(o.Signed, got["message.cbor"]) {
		t.Fatalf("the envelope vector opened to something else")
	}
	r, err := wire.VerifyRecord(got["record.cbor"])
	if err != nil || r.Name != "bob" || !bytes.Equal(r.Identity, bob.Public().Bytes()) {
		t.Fatalf("the record vector: %+v, %v", r, err)
	}
	alice, err := identity.ParseText(got["alice.identity"])
	if err != nil {
		t.Fatal(err)
	}
	r, err = wire.VerifyRecord(got["rotated-record.cbor"])
	if err != nil || !bytes.Equal(r.RotatedFrom(), alice.Public().Bytes()) {
		t.Fatalf("the rotated record vector: %+v, %v", r, err)
	}
	if ts, err := wire.VerifyTombstone(got["tombstone.cbor"]); err != nil || ts.Seq != 2 {
		t.Fatalf("the tombstone vector: %+v, %v", ts, err)
	}
	// bob's DHT item: the BEP 44 signature over the input verifies under
	// his key, and the pointer names his record.
	ptr, err := wire.DecodeDHTPointer(got["dht-pointer.cbor"])
	if err != nil {
		t.Fatalf("the DHT pointer vector: %v", err)
	}
	record, err := wire.VerifyRecord(got["record.cbor"])
	if err != nil || ptr.Matches(record, got["record.cbor"]) != nil {
		t.Fatalf("the DHT pointer vector does not name the record vector: %+v", ptr)
	}
	wantInput := "4:salt10:smvs/1 dht3:seqi1e1:v" + string(bep44.String(got["dht-pointer.cbor"]))
	if string(got["dht-item-input.bin"]) != wantInput {
		t.Fatalf("the DHT item's signing input is %q", got["dht-item-input.bin"])
	}
	item := &bep44.Item{Key: bob.Public().Bytes(), Salt: []byte(wire.DHTSalt), Seq: 1,
		V: bep44.String(got["dht-pointer.cbor"]), Sig: got["dht-item-sig.bin"]}
	if err := item.Verify(); err != nil {
		t.Fatalf("the DHT item vector: %v", err)
	}

	hreq, err := wire.DecodeHostRequest(got["host-request.cbor"])
	if err != nil || hreq.Op != wire.OpDeliver || !bytes.Equal(hreq.Envelope, got["envelope.cbor"]) {
		t.Fatalf("the host request vector: %+v, %v", hreq, err)
	}
	hreq, err = wire.DecodeHostRequest(got["host-request-after.cbor"])
	if err != nil || !bytes.Equal(hreq.Envelope, got["envelope.cbor"]) || !bytes.Equal(hreq.After, bytes.Repeat([]byte{0xaf}, wire.MessageIDSize)) {
		t.Fatalf("the host request vector with after: %+v, %v", hreq, err)
	}
	for name, op := range map[string]wire.HostOp{"host-request-forward.cbor": wire.OpForward, "host-request-relayed.cbor": wire.OpRelayed} {
		hreq, err = wire.DecodeHostRequest(got[name])
		if err != nil || hreq.Op != op || !bytes.Equal(hreq.Request, got["host-request.cbor"]) {
			t.Fatalf("%s: %+v, %v", name, hreq, err)
		}
	}
	r, err = wire.VerifyRecord(got["relayed-record.cbor"])
	if err != nil || !bytes.Equal(r.Via, alice.Public().Bytes()) || r.Host != "relay.example.net:7447" {
		t.Fatalf("the relayed record vector: %+v, %v", r, err)
	}
	hresp, err := wire.DecodeHostResponse(got["host-response.cbor"])
	if err != nil || hresp.Status != wire.StatusStored || hresp.Message != "" || hresp.Record != nil {
		t.Fatalf("the host response vector: %+v, %v", hresp, err)
	}
	rc, err := wire.DecodeReceipt(got["receipt.cbor"])
	if err != nil || len(rc.IDs) != 1 || !bytes.Equal(rc.IDs[0], o.Message.ID) {
		t.Fatalf("the receipt vector: %+v, %v", rc, err)
	}
	dreq, err := hostapi.ReadRequest(bytes.NewReader(wire.AppendFrame(nil, got["device-request.cbor"])), hostapi.MaxFrame)
	if err != nil || dreq.Op != hostapi.OpSubmit || dreq.Submit == nil || dreq.Submit.To != "bob" ||
		dreq.Submit.Kind != wire.KindText || string(dreq.Submit.Body) != "hi bob" {
		t.Fatalf("the device request vector: %+v, %v", dreq, err)
	}
	lreq, err := hostapi.ReadRequest(bytes.NewReader(wire.AppendFrame(nil, got["link-request.cbor"])), hostapi.MaxFrame)
	if err != nil || lreq.Op != hostapi.OpLink || lreq.Link.Code != "7K2M-QX9P-4TRD-HB3W" || lreq.Link.Name != "laptop" {
		t.Fatalf("the link request vector: %+v, %v", lreq, err)
	}
	presp, err := hostapi.ReadResponse(bytes.NewReader(wire.AppendFrame(nil, got["pair-response.cbor"])), hostapi.MaxFrame)
	if err != nil || presp.Devices == nil || presp.Devices.Pairing == nil ||
		!bytes.Equal(presp.Devices.Pairing.Identity, alice.Public().Bytes()) || presp.Devices.Pairing.Address != "192.0.2.7:7447" {
		t.Fatalf("the pair response vector: %+v, %v", presp, err)
	}
	cs, err := wire.DecodeCallSignal(got["call-signal.cbor"])
	if err != nil || cs.Type != wire.SignalOffer || cs.SDP != vectorSDP {
		t.Fatalf("the call signal vector: %+v, %v", cs, err)
	}
	cos, err := wire.DecodeCallSignal(got["call-offer-stun.cbor"])
	if err != nil || cos.Type != wire.SignalOffer || !bytes.Equal(cos.CallID, cs.CallID) ||
		cos.SDP != strings.Replace(vectorSDP, "t=0 0\r\n", "t=0 0\r\na=smvs-stun:192.0.2.1:3478\r\n", 1) {
		t.Fatalf("the call offer vector naming a STUN server: %+v, %v", cos, err)
	}
	cm, err := wire.VerifyMessage(got["call-message.cbor"])
	if err != nil || cm.Kind != wire.KindCall || len(cm.Chain) != 0 || !bytes.Equal(cm.Body, got["call-signal.cbor"]) ||
		!bytes.Equal(cm.Sender, alice.Public().Bytes()) {
		t.Fatalf("the call message vector: %+v, %v", cm, err)
	}
	del, err := wire.DecodeDeleteRequest(got["delete.cbor"])
	if err != nil || len(del.IDs) != 2 || !bytes.Equal(del.IDs[0], o.Message.ID) || !bytes.Equal(del.IDs[1], vectorAbsentID) {
		t.Fatalf("the delete vector: %+v, %v", del, err)
	}
	dm, err := wire.VerifyMessage(got["delete-message.cbor"])
	if err != nil || dm.Kind != wire.KindDelete || len(dm.Chain) != 0 || !bytes.Equal(dm.Body, got["delete.cbor"]) ||
		!bytes.Equal(dm.Sender, alice.Public().Bytes()) || !bytes.Equal(dm.Recipient, bob.Public().Bytes()) {
		t.Fatalf("the delete message vector: %+v, %v", dm, err)
	}
	dr, err := hostapi.ReadRequest(bytes.NewReader(wire.AppendFrame(nil, got["delete-request.cbor"])), hostapi.MaxFrame)
	if err != nil || dr.Op != hostapi.OpDelete || !slices.Equal(dr.Delete.Seqs, []uint64{7, 300}) || !dr.Delete.ForEveryone {
		t.Fatalf("the delete request vector: %+v, %v", dr, err)
	}
	de, err := hostapi.ReadResponse(bytes.NewReader(wire.AppendFrame(nil, got["deleted-event.cbor"])), hostapi.MaxFrame)
	if err != nil || de.Event == nil || de.Event.Kind != hostapi.EventDeleted || !slices.Equal(de.Event.Deleted, []uint64{7, 300}) {
		t.Fatalf("the deleted event vector: %+v, %v", de, err)
	}
	se, err := hostapi.ReadResponse(bytes.NewReader(wire.AppendFrame(nil, got["stranger-event.cbor"])), hostapi.MaxFrame)
	if err != nil || se.Event == nil || se.Event.Item == nil || se.Event.Item.PeerName != "" || se.Event.Item.ClaimedName != "frank" ||
		!bytes.Equal(se.Event.Item.Peer, alice.Public().Bytes()) {
		t.Fatalf("the stranger event vector: %+v, %v", se, err)
	}
	br, err := hostapi.ReadRequest(bytes.NewReader(wire.AppendFrame(nil, got["body-request.cbor"])), hostapi.MaxFrame)
	if err != nil || br.Op != hostapi.OpBody || br.Body.Seq != 7 {
		t.Fatalf("the body request vector: %+v, %v", br, err)
	}
	bi, err := hostapi.ReadResponse(bytes.NewReader(wire.AppendFrame(nil, got["body-info.cbor"])), hostapi.MaxFrame)
	if err != nil || bi.BodyInfo == nil || bi.BodyInfo.Size != 5<<20 {
		t.Fatalf("the body info vector: %+v, %v", bi, err)
	}
	ss, err := hostapi.ReadRequest(bytes.NewReader(wire.AppendFrame(nil, got["submit-stream.cbor"])), hostapi.MaxFrame)
	if err != nil || ss.Op != hostapi.OpSubmit || !ss.Submit.Stream || len(ss.Submit.Body) != 0 || ss.Submit.FileName != "big.bin" {
		t.Fatalf("the streamed submit vector: %+v, %v", ss, err)
	}
	if bp, err := hostapi.DecodeBodyPart(got["body-part.cbor"]); err != nil || string(bp) != "hi bob" {
		t.Fatalf("the body part vector: %q, %v", bp, err)
	}
	so, err := Open(keys(bob), got["streamed-envelope.cbor"], vectorTime)
	if err != nil || !bytes.Equal(so.Signed, got["streamed-message.cbor"]) || so.Message.Stream == nil ||
		!bytes.Equal(so.Message.Stream.Hash, bodyHash(t)) || len(so.Message.Body) != 0 {
		t.Fatalf("the streamed envelope vector: %+v, %v", so, err)
	}
	hreq, err = wire.DecodeHostRequest(got["host-request-stream.cbor"])
	if err != nil || hreq.Op != wire.OpDeliverStream || !bytes.Equal(hreq.Envelope, got["streamed-envelope.cbor"]) {
		t.Fatalf("the streamed host request vector: %+v, %v", hreq, err)
	}
	breq, err := wire.DecodeHostRequest(got["host-request-batch.cbor"])
	if err != nil || breq.Op != wire.OpDeliverBatch || len(breq.Batch) != 2 || !bytes.Equal(breq.Batch[0].Envelope, got["envelope.cbor"]) ||
		breq.Batch[0].After != nil || !bytes.Equal(breq.Batch[1].After, bytes.Repeat([]byte{0xaf}, wire.MessageIDSize)) {
		t.Fatalf("the batch host request vector: %+v, %v", breq, err)
	}
	if r, err := wire.DecodeHostResponse(got["host-response-batch.cbor"]); err != nil || len(r.Results) != 2 ||
		r.Results[0].Status != wire.StatusStored || r.Results[1].Status != wire.StatusBusy {
		t.Fatalf("the batch host response vector: %+v, %v", r, err)
	}
	if r, err := wire.DecodeHostResponse(got["host-response-send-body.cbor"]); err != nil || r.Status != wire.StatusSendBody || r.From != 2 {
		t.Fatalf("the send body vector: %+v, %v", r, err)
	}
	if want := transcriptVector(o.Message.Chain, wire.ChainHash(o.Signed)); !bytes.Equal(got["transcript.txt"], want) {
		t.Fatalf("the transcript vector is not that of the message vector's conversation")
	}
}

// FuzzOpen checks that Open never panics on any envelope and that whatever
// it accepts is a message for bob that re-verifies. The seed is the vector.
func FuzzOpen(f *testing.F) {
	env, err := os.ReadFile(filepath.Join(vectorDir, "envelope.cbor"))
	if err != nil {
		f.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(vectorDir, "bob.identity"))
	if err != nil {
		f.Fatal(err)
	}
	bob, err := identity.ParseText(text)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Open(keys(bob), data, vectorTime)
		if err != nil {
			return
		}
		if !bytes.Equal(o.Message.Recipient, bob.Public().Bytes()) {
			t.Fatal("opened a message for someone else")
		}
		if _, err := wire.VerifyMessage(o.Signed); err != nil {
			t.Fatalf("opened message does not verify: %v", err)
		}
	})
}

// bodyKey is the key lib/blob's vector body.bin is sealed under: 00 01 … 1f.
func bodyKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// bodyHash is the hash of body.bin (PROTOCOL.md 23.3, 23.4).
func bodyHash(t testing.TB) []byte {
	sealed, err := os.ReadFile(filepath.Join(vectorDir, "body.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := blob.NewHash()
	h.Write(sealed)
	return h.Sum(nil)
}
