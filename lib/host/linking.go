package host

import (
	"errors"
	"fmt"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/identity"
)

// authorize says whether dc may make a request of op. The unix socket is
// the owner's and may do anything but link; a remote device must be
// linked, except to link itself, and may not manage devices, import
// messages or change the identity's record.
func (s *deviceServer) authorize(dc *deviceConn, op hostapi.Op) *hostapi.Error {
	switch {
	case !dc.remote() && op == hostapi.OpLink:
		return &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "a device on the host's own socket needs no link",
			Hint: "link from the other machine, with its own SMVS home"}
	case !dc.remote() || op == hostapi.OpLink:
		return nil
	case op == hostapi.OpDevices:
		return &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only the owner, on the host's own machine, manages devices",
			Hint: "run smvs-device on the machine smvs-hostd runs on"}
	case op == hostapi.OpImport:
		return &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only the owner, on the host's own machine, imports messages",
			Hint: "import on the machine smvs-hostd runs on"}
	case op == hostapi.OpPublish:
		return &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only the owner, on the host's own machine, publishes the record",
			Hint: "run smvs-register on the machine smvs-hostd runs on"}
	}
	return s.notLinked(dc.device)
}

// notLinked returns the error for device, or nil if it is linked.
func (s *deviceServer) notLinked(device identity.PublicKey) *hostapi.Error {
	d, known := s.reg.lookup(device)
	switch {
	case known && d.revoked.IsZero():
		return nil
	case known:
		return &hostapi.Error{Code: hostapi.ErrNotLinked,
			Message: fmt.Sprintf("this device (%s, %s) was revoked by its owner on %s", d.name, device, d.revoked.UTC().Format(time.RFC3339)),
			Hint:    "ask the owner to link it again: smvs-device pair, then smvs-device link here"}
	}
	return &hostapi.Error{Code: hostapi.ErrNotLinked,
		Message: fmt.Sprintf("this device (%s) is not linked to the host", device),
		Hint:    "on the host's machine run smvs-device pair, then smvs-device link here with the code"}
}

// manage answers the owner's request about devices.
func (s *deviceServer) manage(r *hostapi.DevicesRequest) *hostapi.Response {
	now := s.h.now()
	var (
		d   linkedDevice
		err error
	)
	switch r.Action {
	case hostapi.DevicesList:
		var res hostapi.DevicesResult
		for _, d := range s.reg.all() {
			res.Devices = append(res.Devices, s.info(d))
		}
		return &hostapi.Response{Devices: &res}
	case hostapi.DevicesPair:
		p, err := s.reg.pair(r.Name, time.Duration(r.TTL)*time.Millisecond, now)
		if err != nil {
			return deviceError(err)
		}
		s.h.log.Info("pairing code made", "name", p.name, "expires", p.expires)
		return &hostapi.Response{Devices: &hostapi.DevicesResult{Pairing: &hostapi.Pairing{
			Code: formatCode(p.code), Name: p.name, Expires: p.expires.UnixMilli(),
			Address: s.h.advertise(), Identity: s.h.me.Bytes(),
		}}}
	case hostapi.DevicesAdd:
		key, kerr := identity.NewPublicKey(identity.KindDevice, r.Key)
		if kerr != nil {
			return deviceError(kerr)
		}
		d, err = s.reg.add(r.Name, key, now)
		if err == nil {
			s.h.log.Info("device linked", "name", d.name, "device", d.key)
		}
	case hostapi.DevicesRevoke:
		target := r.Name
		if r.Key != nil {
			key, kerr := identity.NewPublicKey(identity.KindDevice, r.Key)
			if kerr != nil {
				return deviceError(kerr)
			}
			target = key.String()
		}
		d, err = s.reg.revoke(target, now)
		if err == nil {
			s.revoked(d.key)
			s.h.log.Info("device revoked", "name", d.name, "device", d.key)
		}
	}
	if err != nil {
		return deviceError(err)
	}
	return &hostapi.Response{Devices: &hostapi.DevicesResult{Devices: []*hostapi.Device{s.info(d)}}}
}

// info is d with what the server knows of its connections.
func (s *deviceServer) info(d linkedDevice) *hostapi.Device {
	dev := deviceInfo(d)
	n, seen := s.connected(d.key)
	dev.Connected = n
	if !seen.IsZero() {
		dev.LastSeen = seen.UnixMilli()
	}
	return dev
}

func deviceError(err error) *hostapi.Response {
	code := hostapi.ErrBadRequest
	switch {
	case errors.Is(err, errNoSuchDevice):
		code = hostapi.ErrNotFound
	case errors.Is(err, errBadPairingCode):
		code = hostapi.ErrNotLinked
	case !errors.Is(err, errDeviceName) && !errors.Is(err, identity.ErrBadPublicKey):
		code = hostapi.ErrInternal
	}
	return &hostapi.Response{Err: &hostapi.Error{Code: code, Message: err.Error()}}
}

// link answers a remote device's Link: with a code, it redeems it; without,
// it tells whether the owner linked the device's key.
func (s *deviceServer) link(dc *deviceConn, l *hostapi.Link) *hostapi.Response {
	if l.Code == "" {
		if e := s.notLinked(dc.device); e != nil {
			return &hostapi.Response{Err: e}
		}
	} else if _, err := s.reg.redeem(l.Code, l.Name, dc.device, s.h.now()); err != nil {
		s.h.log.Info("pairing refused", "device", dc.device, "err", err)
		if errors.Is(err, errBadPairingCode) {
			return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrNotLinked, Message: err.Error(),
				Hint: "pairing codes work once and expire: make a new one with smvs-device pair on the host's machine"}}
		}
		return deviceError(err)
	}
	d, _ := s.reg.lookup(dc.device)
	s.h.log.Info("device linked", "name", d.name, "device", d.key)
	return &hostapi.Response{Linked: &hostapi.Linked{Name: d.name, Identity: s.h.me.Bytes(), Added: d.added.UnixMilli(),
		Record: s.h.Record()}}
}

// markRead answers an OpRead.
func (s *deviceServer) markRead(r *hostapi.MarkRead) *hostapi.Response {
	n, err := s.h.store.MarkRead(r.Seqs)
	if err != nil {
		return &hostapi.Response{Err: s.h.storeError("mark the messages read", err)}
	}
	return &hostapi.Response{Read: &hostapi.ReadResult{Marked: n}}
}
