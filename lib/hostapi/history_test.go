package hostapi

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// historyRequests are valid requests of each history op, one for every
// way a field can be used.
func historyRequests() map[string]*Request {
	item := &Item{
		ID: bytes.Repeat([]byte{1}, wire.MessageIDSize), Direction: delivery.Out, Peer: bytes.Repeat([]byte{2}, wire.KeySize),
		Sent: 1767323045000, Stored: 1767323045001, Kind: wire.KindText, Body: []byte("hi"), Expires: 1767323050000,
		Status: delivery.Delivered, Signed: []byte{0xa3, 0x00, 0x01},
	}
	return map[string]*Request{
		"delete seqs":                {Op: OpDelete, Delete: &Delete{Seqs: []uint64{1, 7, 300}}},
		"delete seqs for everyone":   {Op: OpDelete, Delete: &Delete{Seqs: []uint64{0}, ForEveryone: true}},
		"delete before":              {Op: OpDelete, Delete: &Delete{Before: 1767323045000}},
		"delete before in a peer":    {Op: OpDelete, Delete: &Delete{Before: 1, Peer: "bob", ForEveryone: true}},
		"delete a conversation":      {Op: OpDelete, Delete: &Delete{All: true, Peer: "smvs1ks9mksuezdtzl6gul2382qvsnczqup9478s5xfwyp4vgrtq8cjsstzl798"}},
		"delete everything":          {Op: OpDelete, Delete: &Delete{All: true}},
		"delete everything for all":  {Op: OpDelete, Delete: &Delete{All: true, ForEveryone: true}},
		"import":                     {Op: OpImport, Import: &Import{Items: []*Item{item, {ID: item.ID, Direction: delivery.In, Peer: item.Peer, Kind: wire.KindFile, FileName: "a.txt", Status: delivery.Received}}}},
		"fingerprint now":            {Op: OpFingerprint, Fingerprint: &Fingerprint{Peer: "bob"}},
		"fingerprint until":          {Op: OpFingerprint, Fingerprint: &Fingerprint{Peer: "bob", Until: 1767323045000}},
		"expiry read":                {Op: OpExpiry, Expiry: &Expiry{Peer: "bob"}},
		"expiry set":                 {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", Set: true, After: 3600000}},
		"expiry set to a year":       {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", Set: true, After: delivery.MaxExpiry}},
		"expiry cleared":             {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", Set: true}},
		"list with the signed bytes": {Op: OpList, List: &List{Peer: "bob", Signed: true}},
	}
}

// historyResponses are valid responses to history ops, and the events
// and items they brought.
func historyResponses() map[string]*Response {
	key := bytes.Repeat([]byte{2}, wire.KeySize)
	id := bytes.Repeat([]byte{1}, wire.MessageIDSize)
	return map[string]*Response{
		"deleted nothing": {Deleted: &DeleteResult{}},
		"deleted": {Deleted: &DeleteResult{Deleted: 3, Missing: []uint64{9}, Requests: []*PeerDeletion{
			{Peer: key, PeerName: "bob", ID: bytes.Repeat([]byte{3}, wire.MessageIDSize), Messages: 2},
			{Peer: bytes.Repeat([]byte{4}, wire.KeySize), ID: bytes.Repeat([]byte{5}, wire.MessageIDSize), Messages: 1},
		}}},
		"imported nothing": {Imported: &ImportResult{}},
		"imported":         {Imported: &ImportResult{Added: 200, Present: 56}},
		"fingerprint": {Fingerprint: &FingerprintResult{
			Peer: key, PeerName: "bob", Until: 1767323045000, Messages: 2, Hash: wire.TranscriptFingerprint(nil),
		}},
		"fingerprint of nothing": {Fingerprint: &FingerprintResult{Peer: key, Hash: wire.TranscriptFingerprint(nil)}},
		"expiry":                 {Expiry: &ExpiryResult{Peer: key, PeerName: "bob", After: 60000, Was: 3600000}},
		"no expiry":              {Expiry: &ExpiryResult{Peer: key}},
		"deleted event":          {Event: &Event{Kind: EventDeleted, Deleted: []uint64{7, 300}}},
		"message with warnings": {Event: &Event{Kind: EventMessage, Item: &Item{
			Seq: 8, ID: id, Direction: delivery.In, Peer: key, Kind: wire.KindText, Body: []byte("hi"), Status: delivery.Received,
			Warnings: []delivery.Warning{delivery.WarnGap, delivery.WarnFork},
		}}},
		"status with a warning": {Event: &Event{Kind: EventStatus, Item: &Item{
			Seq: 8, ID: id, Direction: delivery.In, Peer: key, Kind: wire.KindText, Status: delivery.Received, Warnings: []delivery.Warning{delivery.WarnChanged},
		}}},
		"message with its signed bytes": {Event: &Event{Kind: EventMessage, Item: &Item{
			Seq: 9, ID: id, Direction: delivery.Out, Peer: key, Kind: wire.KindFile, FileName: "a.txt", Status: delivery.Sent,
			Signed: []byte{0xa3, 0x00, 0x01}, Expires: 1767323050000,
		}}},
	}
}

// TestHistoryRoundTrip checks that every history request and response
// comes back as it was written, and re-encodes to the same bytes.
func TestHistoryRoundTrip(t *testing.T) {
	for name, req := range historyRequests() {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, req); err != nil {
			t.Fatal(err)
		}
		sent := bytes.Clone(buf.Bytes())
		got, err := ReadRequest(&buf, MaxFrame)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, req) {
			t.Errorf("%s: got %+v, want %+v", name, *got, *req)
		}
		if !bytes.Equal(wire.AppendFrame(nil, wire.Marshal(got)), sent) {
			t.Errorf("%s: decode→encode changed the bytes", name)
		}
	}
	for name, resp := range historyResponses() {
		var buf bytes.Buffer
		if err := WriteResponse(&buf, resp); err != nil {
			t.Fatal(err)
		}
		got, err := ReadResponse(&buf, MaxFrame)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, resp) {
			t.Errorf("%s: got %+v, want %+v", name, got, resp)
		}
	}
}

// TestHistoryEncoding pins the keys of the new fields (PROTOCOL.md section
// 20), byte for byte.
func TestHistoryEncoding(t *testing.T) {
	for name, c := range map[string]struct {
		v    any
		want []byte
	}{
		// {1: [7, 300], 5: true}
		"Delete": {&Delete{Seqs: []uint64{7, 300}, ForEveryone: true}, []byte{0xa2, 0x01, 0x82, 0x07, 0x19, 0x01, 0x2c, 0x05, 0xf5}},
		// {2: "bob", 3: 1, 4: true}: not valid (two modes), but each key in its place.
		"Delete keys": {&Delete{Peer: "bob", Before: 1, All: true}, []byte{0xa3, 0x02, 0x63, 'b', 'o', 'b', 0x03, 0x01, 0x04, 0xf5}},
		// {1: 0}: a deletion that deleted nothing says so.
		"DeleteResult": {&DeleteResult{}, []byte{0xa1, 0x01, 0x00}},
		// {1: 0, 2: 0}
		"ImportResult": {&ImportResult{}, []byte{0xa2, 0x01, 0x00, 0x02, 0x00}},
		// {1: "bob", 2: 5}
		"Fingerprint": {&Fingerprint{Peer: "bob", Until: 5}, []byte{0xa2, 0x01, 0x63, 'b', 'o', 'b', 0x02, 0x05}},
		// {1: "bob", 2: true, 3: 1000}
		"Expiry": {&Expiry{Peer: "bob", Set: true, After: 1000}, []byte{0xa3, 0x01, 0x63, 'b', 'o', 'b', 0x02, 0xf5, 0x03, 0x19, 0x03, 0xe8}},
		// {1: 5, 4: [7]}
		"Event": {&Event{Kind: EventDeleted, Deleted: []uint64{7}}, []byte{0xa2, 0x01, 0x05, 0x04, 0x81, 0x07}},
		// {5: true}
		"List": {&List{Signed: true}, []byte{0xa1, 0x05, 0xf5}},
	} {
		if got := wire.Marshal(c.v); !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x, want % x", name, got, c.want)
		}
	}
	// Item keys 15 (warnings) and 16 (signed) come last.
	item := wire.Marshal(&Item{Warnings: []delivery.Warning{delivery.WarnFork}, Signed: []byte{9}})
	if !bytes.HasSuffix(item, []byte{0x0f, 0x81, 0x02, 0x10, 0x41, 0x09}) {
		t.Errorf("Item with warnings and signed bytes ends % x", item)
	}
}

func TestHistoryRejects(t *testing.T) {
	over := make([]uint64, MaxDeleteSeqs+1)
	for i := range over {
		over[i] = uint64(i + 1)
	}
	tooMany := make([]*Item, MaxImportItems+1)
	for i := range tooMany {
		tooMany[i] = &Item{Kind: wire.KindText}
	}
	for name, r := range map[string]*Request{
		"delete of nothing":             {Op: OpDelete, Delete: &Delete{}},
		"delete for everyone only":      {Op: OpDelete, Delete: &Delete{ForEveryone: true}},
		"delete of a peer only":         {Op: OpDelete, Delete: &Delete{Peer: "bob"}},
		"delete seqs and before":        {Op: OpDelete, Delete: &Delete{Seqs: []uint64{1}, Before: 5}},
		"delete seqs and all":           {Op: OpDelete, Delete: &Delete{Seqs: []uint64{1}, All: true}},
		"delete before and all":         {Op: OpDelete, Delete: &Delete{Before: 5, All: true}},
		"delete in three ways":          {Op: OpDelete, Delete: &Delete{Seqs: []uint64{1}, Before: 5, All: true}},
		"delete seqs with a peer":       {Op: OpDelete, Delete: &Delete{Seqs: []uint64{1}, Peer: "bob"}},
		"delete before a negative time": {Op: OpDelete, Delete: &Delete{Before: -1}},
		"delete over 1024 seqs":         {Op: OpDelete, Delete: &Delete{Seqs: over}},
		"delete without its field":      {Op: OpDelete, Fingerprint: &Fingerprint{Peer: "bob"}},
		"delete with another field":     {Op: OpDelete, Delete: &Delete{All: true}, Expiry: &Expiry{Peer: "bob"}},
		"a delete under another op":     {Op: OpList, Delete: &Delete{All: true}},
		"import of nothing":             {Op: OpImport, Import: &Import{}},
		"import over the limit":         {Op: OpImport, Import: &Import{Items: tooMany}},
		"import of an empty item":       {Op: OpImport, Import: &Import{Items: []*Item{{Kind: wire.KindText}, nil}}},
		"import of an unknown warning":  {Op: OpImport, Import: &Import{Items: []*Item{{Kind: wire.KindText, Warnings: []delivery.Warning{9}}}}},
		"import under another op":       {Op: OpSubmit, Import: &Import{Items: []*Item{{}}}},
		"fingerprint of no peer":        {Op: OpFingerprint, Fingerprint: &Fingerprint{Until: 5}},
		"fingerprint until before 1970": {Op: OpFingerprint, Fingerprint: &Fingerprint{Peer: "bob", Until: -1}},
		"expiry of no peer":             {Op: OpExpiry, Expiry: &Expiry{Set: true, After: 1000}},
		"expiry negative":               {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", Set: true, After: -1}},
		"expiry over a year":            {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", Set: true, After: delivery.MaxExpiry + 1}},
		"expiry read with a value":      {Op: OpExpiry, Expiry: &Expiry{Peer: "bob", After: 1000}},
		"expiry under the delete op":    {Op: OpDelete, Expiry: &Expiry{Peer: "bob"}},
	} {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadRequest(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %+v, %v; want malformed", name, got, err)
		}
	}
}

// TestDeleteLimit checks that the largest delete request (MaxDeleteSeqs)
// and the largest deletion event decode, and that one over either is
// refused as malformed.
func TestDeleteLimit(t *testing.T) {
	seqs := make([]uint64, MaxDeleteSeqs+1)
	for i := range seqs {
		seqs[i] = uint64(1<<32 + i)
	}
	var buf bytes.Buffer
	if err := WriteRequest(&buf, &Request{Op: OpDelete, Delete: &Delete{Seqs: seqs[:MaxDeleteSeqs], ForEveryone: true}}); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRequest(&buf, MaxFrame); err != nil || len(got.Delete.Seqs) != MaxDeleteSeqs {
		t.Fatalf("a delete request of %d seqs: %v", MaxDeleteSeqs, err)
	}
	if err := WriteResponse(&buf, &Response{Event: &Event{Kind: EventDeleted, Deleted: seqs[:MaxDeleteSeqs]}}); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadResponse(&buf, MaxFrame); err != nil || len(got.Event.Deleted) != MaxDeleteSeqs {
		t.Fatalf("a deletion event of %d seqs: %v", MaxDeleteSeqs, err)
	}
	if err := WriteResponse(&buf, &Response{Event: &Event{Kind: EventDeleted, Deleted: seqs}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResponse(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("a deletion event of %d seqs: %v, want malformed", len(seqs), err)
	}
}

func TestEventRejects(t *testing.T) {
	item := &Item{Seq: 1, Direction: delivery.In, Kind: wire.KindText, Status: delivery.Received}
	for name, e := range map[string]*Event{
		"deleted event with an item": {Kind: EventDeleted, Item: item, Deleted: []uint64{1}},
		"deleted event of nothing":   {Kind: EventDeleted},
		"deleted event with a call":  {Kind: EventDeleted, Deleted: []uint64{1}, Call: &CallEvent{}},
		"message event with deleted": {Kind: EventMessage, Item: item, Deleted: []uint64{1}},
		"status event with deleted":  {Kind: EventStatus, Item: item, Deleted: []uint64{1}},
		"live event with deleted":    {Kind: EventLive, Deleted: []uint64{1}},
		"call event with deleted":    {Kind: EventCall, Call: &CallEvent{}, Deleted: []uint64{1}},
	} {
		var buf bytes.Buffer
		if err := WriteResponse(&buf, &Response{Event: e}); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadResponse(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %+v, %v; want malformed", name, got, err)
		}
	}
	for name, resp := range map[string]*Response{
		"two results":              {Deleted: &DeleteResult{}, Imported: &ImportResult{}},
		"a result and an error":    {Fingerprint: &FingerprintResult{}, Err: &Error{Code: ErrNotFound, Message: "x"}},
		"expiry and an event":      {Expiry: &ExpiryResult{}, Event: &Event{Kind: EventLive}},
		"a deletion and its event": {Deleted: &DeleteResult{Deleted: 1}, Event: &Event{Kind: EventDeleted, Deleted: []uint64{1}}},
	} {
		var buf bytes.Buffer
		if err := WriteResponse(&buf, resp); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadResponse(&buf, MaxFrame); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %+v, %v; want malformed", name, got, err)
		}
	}
}
