package hostapi

import (
	"fmt"

	"smvs/lib/wire"
)

// DeviceAction is what an OpDevices request does.
type DeviceAction uint64

// The device actions.
const (
	DevicesList   DeviceAction = 1 // every device ever linked, revoked ones too
	DevicesAdd    DeviceAction = 2 // authorize Key under Name
	DevicesRevoke DeviceAction = 3 // revoke the device called Name, or with Key: refused at once, connections closed
	DevicesPair   DeviceAction = 4 // make a one-time pairing code for a device to be called Name, valid TTL ms
)

// DevicesRequest is the owner's request about devices. It is only served
// on the host's unix socket: a remote device gets ErrForbidden.
type DevicesRequest struct {
	Action DeviceAction `cbor:"1,keyasint"`
	Name   string       `cbor:"2,keyasint,omitempty"`
	Key    []byte       `cbor:"3,keyasint,omitempty"` // a device's public key
	TTL    int64        `cbor:"4,keyasint,omitempty"` // DevicesPair: milliseconds; 0 takes the host's default
}

// DevicesResult answers a DevicesRequest: the devices the action touched
// (all of them for DevicesList), and for DevicesPair the code.
type DevicesResult struct {
	Devices []*Device `cbor:"1,keyasint,omitempty"`
	Pairing *Pairing  `cbor:"2,keyasint,omitempty"`
}

// Device is one device of the user as the host knows it.
type Device struct {
	Name      string `cbor:"1,keyasint"`
	Key       []byte `cbor:"2,keyasint"`
	Added     int64  `cbor:"3,keyasint"`           // Unix ms
	Revoked   int64  `cbor:"4,keyasint,omitempty"` // Unix ms; 0 while linked
	LastSeen  int64  `cbor:"5,keyasint,omitempty"` // Unix ms of its last request since the host started
	Connected int    `cbor:"6,keyasint,omitempty"` // its open connections now
}

// Pairing is a one-time code a new device gives the host (OpLink) to be
// linked. The code is a secret: whoever has it before it is used or
// expires can link a device.
type Pairing struct {
	Code     string `cbor:"1,keyasint"`
	Name     string `cbor:"2,keyasint"`
	Expires  int64  `cbor:"3,keyasint"`           // Unix ms
	Address  string `cbor:"4,keyasint,omitempty"` // where devices reach the host (its advertised address)
	Identity []byte `cbor:"5,keyasint"`           // the host's identity key, which the device pins
}

// Link asks the host to link the device presenting its key on this
// connection: with Code, redeeming a pairing code; without, it only asks
// whether the device is linked already (added by key by the owner).
type Link struct {
	Code string `cbor:"1,keyasint,omitempty"`
	Name string `cbor:"2,keyasint,omitempty"` // the name the device asks for; the pairing's name wins
}

// Linked answers a Link: the device is linked under Name. Record is the
// host's signed record, whose rotation statements let a device linked to
// an earlier identity key follow the user's rotations (FollowRotation).
type Linked struct {
	Name     string `cbor:"1,keyasint"`
	Identity []byte `cbor:"2,keyasint"` // the user's identity key, the host's
	Added    int64  `cbor:"3,keyasint"`
	Record   []byte `cbor:"4,keyasint,omitempty"`
}

// MaxReadSeqs bounds the messages one OpRead marks: as many as one array
// may hold (wire.MaxArrayElements). A device marks more in several.
const MaxReadSeqs = wire.MaxArrayElements

// MarkRead marks received messages read, by sequence number. Every device
// following the history sees an EventStatus with Read set.
type MarkRead struct {
	Seqs []uint64 `cbor:"1,keyasint"`
}

// ReadResult says how many messages changed from unread to read.
type ReadResult struct {
	Marked int `cbor:"1,keyasint"`
}

// maxDeviceName bounds a device's name.
const maxDeviceName = 64

func (d *DevicesRequest) validate() error {
	switch {
	case d.Action < DevicesList || d.Action > DevicesPair:
		return fmt.Errorf("%w: unknown device action %d", wire.ErrMalformed, d.Action)
	case len(d.Name) > maxDeviceName || d.TTL < 0:
		return fmt.Errorf("%w: device request", wire.ErrMalformed)
	case d.Key != nil && len(d.Key) != wire.KeySize:
		return fmt.Errorf("%w: device key is %d bytes", wire.ErrMalformed, len(d.Key))
	}
	return nil
}

func (l *Link) validate() error {
	if len(l.Code) > 64 || len(l.Name) > maxDeviceName {
		return fmt.Errorf("%w: link request", wire.ErrMalformed)
	}
	return nil
}

func (m *MarkRead) validate() error {
	if len(m.Seqs) == 0 || len(m.Seqs) > MaxReadSeqs {
		return fmt.Errorf("%w: a read request marks 1 to %d messages", wire.ErrMalformed, MaxReadSeqs)
	}
	return nil
}
