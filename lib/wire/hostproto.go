package wire

import "fmt"

// HostRequest is what one host sends another on a QUIC stream: the
// delivery of an envelope, or a request for the host's record.
type HostRequest struct {
	V        uint64 `cbor:"0,keyasint"`
	Op       HostOp `cbor:"1,keyasint"`
	Envelope []byte `cbor:"2,keyasint"`
	// After, with OpDeliver, is the id of the sender's previous text or
	// file message to this host's user that it has sent and not yet had
	// an answer for: the receiving host stores this one after that one
	// (PROTOCOL.md section 19.6). Empty if there is none.
	After []byte `cbor:"3,keyasint,omitempty"`
	// Peer, with OpForward, is the identity key of the user whose host the
	// relay is to pass Request on to; with OpRelayed, the key of the host
	// that asked the relay (as its handshake proved it to the relay).
	Peer []byte `cbor:"4,keyasint,omitempty"`
	// Request, with OpForward and OpRelayed, is the encoded HostRequest
	// (OpDeliver or OpRecord) being passed on, unchanged.
	Request []byte `cbor:"5,keyasint,omitempty"`
	// ID, with OpPushBody, is the id of the message whose body follows.
	ID []byte `cbor:"6,keyasint,omitempty"`
	// Batch, with OpDeliverBatch, is the deliveries of the batch, in the
	// order the sender queued them (PROTOCOL.md 19.10).
	Batch []BatchItem `cbor:"7,keyasint,omitempty"`
}

// BatchItem is one delivery of an OpDeliverBatch: what an OpDeliver
// request would carry.
type BatchItem struct {
	Envelope []byte `cbor:"0,keyasint"`
	After    []byte `cbor:"1,keyasint,omitempty"`
}

// MaxBatch bounds the deliveries of one OpDeliverBatch: as many as a
// sender has in flight to one peer.
const MaxBatch = 64

// HostOp is the operation of a HostRequest.
type HostOp uint64

// The operations.
const (
	// OpDeliver asks the receiving host to store an envelope for its user.
	OpDeliver HostOp = 1
	// OpRecord asks the receiving host for its user's current signed
	// record, so that a sender that knows the host's address and key (a
	// contact's host=) but has no directory can seal to its KEM key. It
	// carries no envelope; the answer carries the record, which the asker
	// verifies like any other.
	OpRecord HostOp = 2
	// OpForward asks a relay to pass Request on to the host of the user
	// Peer, which keeps a connection open to the relay (it can't be
	// dialled), and to answer with that host's answer (PROTOCOL.md 19.9).
	OpForward HostOp = 3
	// OpRelayed is a relay passing on, to a host it relays for, the
	// Request that the host of Peer asked it to forward.
	OpRelayed HostOp = 4
	// OpDeliverStream delivers an envelope whose message's body travels
	// beside it as sealed chunks (PROTOCOL.md 23.5): the receiving host
	// answers StatusSendBody, then reads the chunks on the same stream.
	OpDeliverStream HostOp = 5
	// OpPushBody sends the sealed chunks of a body as they are sealed,
	// before its message is signed (PROTOCOL.md 23.5): the receiving host
	// keeps them for the OpDeliverStream that follows.
	OpPushBody HostOp = 6
	// OpDeliverBatch delivers several envelopes in one request: the
	// receiving host treats each as an OpDeliver of it, and answers
	// each (HostResponse.Results) in one response (PROTOCOL.md 19.10).
	OpDeliverBatch HostOp = 7
)

func (r *HostRequest) validate() error {
	switch r.Op {
	case OpDeliver, OpDeliverStream, OpRecord:
		if (r.Op != OpRecord) != (len(r.Envelope) > 0) || r.Peer != nil || r.Request != nil {
			return fmt.Errorf("%w: host request", ErrMalformed)
		}
	case OpForward, OpRelayed:
		if len(r.Envelope) > 0 || len(r.Request) == 0 {
			return fmt.Errorf("%w: host request", ErrMalformed)
		}
		if err := checkSize("host request: peer", r.Peer, KeySize); err != nil {
			return err
		}
	case OpPushBody:
		if len(r.Envelope) > 0 || r.Peer != nil || r.Request != nil {
			return fmt.Errorf("%w: host request", ErrMalformed)
		}
		if err := checkSize("host request: id", r.ID, MessageIDSize); err != nil {
			return err
		}
	case OpDeliverBatch:
		if len(r.Envelope) > 0 || r.Peer != nil || r.Request != nil {
			return fmt.Errorf("%w: host request", ErrMalformed)
		}
		if err := validateBatch(r.Batch); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: host request: op %d", ErrMalformed, r.Op)
	}
	if r.After != nil && (r.Op != OpDeliver && r.Op != OpDeliverStream || len(r.After) != MessageIDSize) {
		return fmt.Errorf("%w: host request: after", ErrMalformed)
	}
	if r.ID != nil && r.Op != OpPushBody {
		return fmt.Errorf("%w: host request: id", ErrMalformed)
	}
	if r.Batch != nil && r.Op != OpDeliverBatch {
		return fmt.Errorf("%w: host request: batch", ErrMalformed)
	}
	return nil
}

func validateBatch(batch []BatchItem) error {
	if len(batch) == 0 || len(batch) > MaxBatch {
		return fmt.Errorf("%w: a batch holds 1 to %d deliveries", ErrMalformed, MaxBatch)
	}
	for _, it := range batch {
		if len(it.Envelope) == 0 {
			return fmt.Errorf("%w: host request: a batch's envelope is empty", ErrMalformed)
		}
		if it.After != nil && len(it.After) != MessageIDSize {
			return fmt.Errorf("%w: host request: a batch's after", ErrMalformed)
		}
	}
	return nil
}

// DecodeHostRequest strictly decodes a host request. The envelope inside is
// decoded separately.
func DecodeHostRequest(data []byte) (*HostRequest, error) {
	r := new(HostRequest)
	if err := decode("host request", data, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *HostRequest) Encode() []byte {
	r.V = Version
	return encode(r)
}

// HostStatus is a receiving host's answer to a delivery.
type HostStatus uint64

// The answers. Only StatusStored and StatusDuplicate mean the sender may
// drop the envelope from its outbox; StatusStaleKEMKey asks it to look the
// record up again and re-seal; the others are final refusals except
// StatusBusy and StatusInternal, which are retried.
const (
	StatusStored       HostStatus = 1 // stored durably
	StatusDuplicate    HostStatus = 2 // already stored before; nothing changed
	StatusRefused      HostStatus = 3 // the user's policy refuses this sender
	StatusWrongHost    HostStatus = 4 // not for this host's user, or not from the connection's key
	StatusInvalid      HostStatus = 5 // does not open or verify
	StatusStaleKEMKey  HostStatus = 6 // sealed to a KEM key this host no longer has
	StatusTooLarge     HostStatus = 7 // over the host's message size limit
	StatusQuota        HostStatus = 8 // the host's disk quota, or its quota for senders not in its contacts, is full
	StatusBusy         HostStatus = 9 // over the per-peer, or the strangers' shared, rate or stream limits; retry later
	StatusInternal     HostStatus = 10
	StatusSendBody     HostStatus = 11 // OpDeliverStream: send the sealed chunks from From on
	maxHostStatusValue HostStatus = 11
)

var hostStatusNames = [...]string{
	StatusStored: "stored", StatusDuplicate: "duplicate", StatusRefused: "refused by policy",
	StatusWrongHost: "wrong host", StatusInvalid: "invalid envelope", StatusStaleKEMKey: "stale KEM key",
	StatusTooLarge: "too large", StatusQuota: "quota full", StatusBusy: "busy", StatusInternal: "internal error",
	StatusSendBody: "send body",
}

func (s HostStatus) String() string {
	if s >= 1 && s <= maxHostStatusValue {
		return hostStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint64(s))
}

// Accepted reports whether the receiving host holds the message.
func (s HostStatus) Accepted() bool { return s == StatusStored || s == StatusDuplicate }

// HostResponse answers a HostRequest.
type HostResponse struct {
	V       uint64     `cbor:"0,keyasint"`
	Status  HostStatus `cbor:"1,keyasint"`
	Message string     `cbor:"2,keyasint,omitempty"` // one line for the sender's log
	// Record is the encoded signed record answering an OpRecord request
	// (with StatusStored), at most MaxHostRecordSize bytes.
	Record []byte `cbor:"3,keyasint,omitempty"`
	// From, with StatusSendBody, is the first sealed chunk the receiving
	// host wants: the ones before it are kept from an earlier attempt.
	From uint64 `cbor:"4,keyasint,omitempty"`
	// Results, with StatusStored answering an OpDeliverBatch, is the
	// answer to each of its deliveries, in their order.
	Results []BatchResult `cbor:"5,keyasint,omitempty"`
}

// BatchResult answers one delivery of an OpDeliverBatch, as a
// HostResponse would answer it alone.
type BatchResult struct {
	Status  HostStatus `cbor:"0,keyasint"`
	Message string     `cbor:"1,keyasint,omitempty"`
}

// MaxHostRecordSize bounds the record of a HostResponse, as directories
// bound the records they store (dirclient.MaxRecordSize).
const MaxHostRecordSize = 8192

func (r *HostResponse) validate() error {
	if r.Status < 1 || r.Status > maxHostStatusValue {
		return fmt.Errorf("%w: host response status %d", ErrMalformed, r.Status)
	}
	if r.From != 0 && r.Status != StatusSendBody {
		return fmt.Errorf("%w: host response: from without status send body", ErrMalformed)
	}
	if err := checkMax("host response record", len(r.Record), MaxHostRecordSize); err != nil {
		return err
	}
	if r.Results != nil && (r.Status != StatusStored || len(r.Results) > MaxBatch) {
		return fmt.Errorf("%w: host response: results", ErrMalformed)
	}
	for _, res := range r.Results {
		if res.Status < 1 || res.Status >= StatusSendBody {
			return fmt.Errorf("%w: host response: a result's status %d", ErrMalformed, res.Status)
		}
		if err := checkMax("host response: a result's message", len(res.Message), 1024); err != nil {
			return err
		}
	}
	return checkMax("host response message", len(r.Message), 1024)
}

// DecodeHostResponse strictly decodes a host response.
func DecodeHostResponse(data []byte) (*HostResponse, error) {
	r := new(HostResponse)
	if err := decode("host response", data, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *HostResponse) Encode() []byte {
	r.V = Version
	return encode(r)
}

// Receipt is the body of a KindReceipt message: the recipient's signed word
// that it stored the messages with these ids.
type Receipt struct {
	V   uint64   `cbor:"0,keyasint"`
	IDs [][]byte `cbor:"1,keyasint"`
}

// MaxReceiptIDs bounds the ids of one receipt.
const MaxReceiptIDs = MaxArrayElements

func (r *Receipt) validate() error {
	if len(r.IDs) == 0 || len(r.IDs) > MaxReceiptIDs {
		return fmt.Errorf("%w: a receipt carries 1 to %d ids", ErrMalformed, MaxReceiptIDs)
	}
	for _, id := range r.IDs {
		if err := checkSize("receipt id", id, MessageIDSize); err != nil {
			return err
		}
	}
	return nil
}

// DecodeReceipt strictly decodes a receipt body.
func DecodeReceipt(data []byte) (*Receipt, error) {
	r := new(Receipt)
	if err := decode("receipt", data, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *Receipt) Encode() []byte {
	r.V = Version
	return encode(r)
}

// PeekHostOp returns the op of an encoded HostRequest without decoding
// it, or 0 if it does not start as one does: a map whose first keys are 0
// (the version, 1) and 1 (the op, a small integer). The request is still
// to be decoded strictly; this only tells which way to serve it.
func PeekHostOp(data []byte) HostOp {
	if len(data) < 5 || data[0]&0xe0 != 0xa0 || data[1] != 0x00 || data[2] != 0x01 || data[3] != 0x01 || data[4] > 0x17 {
		return 0
	}
	return HostOp(data[4])
}
