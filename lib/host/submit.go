package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// submit sends a device's message: it resolves the recipient, seals the
// message to it, and stores it with its envelope in the outbox in one
// durable step. Only then does it answer, and delivery begins. With body
// not nil, the body is read from it (a device streaming it, PROTOCOL.md
// 23.6) and s.Body is ignored; a body over the message size limit is
// refused as soon as it passes the limit, and one whose reader fails
// stores nothing.
func (h *Host) submit(ctx context.Context, s *hostapi.Submit, body io.Reader) (*hostapi.SubmitResult, *hostapi.Error) {
	if body == nil && int64(len(s.Body)) > h.cfg.MaxMessage {
		return nil, h.tooLarge(int64(len(s.Body)))
	}
	if body == nil && len(s.Body) > streamAbove {
		body = bytes.NewReader(s.Body) // too large for an envelope: it streams
	}
	now := h.now()
	if s.Expires != 0 && s.Expires <= now.UnixMilli() {
		return nil, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "the message's expiry is in the past"}
	}
	res, err := h.resolveCurrent(func(fresh bool) (*contacts.Resolved, error) { return h.peers.resolve(ctx, s.To, fresh) })
	if err != nil {
		h.log.Debug("recipient not resolved", "err", err)
		return nil, resolveError(s.To, err)
	}
	if e := sendable(s.To, res, now); e != nil {
		return nil, e
	}
	key := res.Contact.Key
	if err := h.peers.rot.wait(ctx, key); err != nil {
		return nil, resolveError(s.To, err)
	}
	expires := s.Expires
	if expires == 0 {
		// The conversation's default goes into the signed message, so
		// the peer's host deletes it too.
		after, err := h.store.ExpireAfter(key.Bytes())
		if err != nil {
			return nil, h.storeError("read the conversation's expiry", err)
		}
		if after > 0 {
			expires = now.UnixMilli() + after.Milliseconds()
		}
	}

	m := &wire.Message{
		Sent: now.UnixMilli(), Kind: s.Kind, ContentType: s.ContentType, FileName: s.FileName,
		Body: s.Body, Expires: expires,
	}
	sm := &store.Message{Peer: key.Bytes(), Direction: delivery.Out, Status: delivery.Queued}
	if body != nil {
		// A large body goes to the peer's host as it is sealed (bodyPush);
		// the message, signed once the body is whole, follows it.
		m.ID = make([]byte, wire.MessageIDSize)
		rand.Read(m.ID)
		rt := routeOf(res)
		sb, e := h.readBody(body, func(f *store.BlobFile) *bodyPush { return h.startPush(key, rt, m.ID, f) })
		if e != nil {
			return nil, e
		}
		m.Body, m.Stream = sb.inline, sb.stream
		if sb.blob != nil {
			defer func() {
				if sm.Seq == 0 { // not stored
					sb.blob.Drop()
				}
			}()
			sm.Size, sm.Blob = sb.stream.Size, sb.blob.Name()
		}
	}
	sealed, turn, err := h.sealChained(key, res.Record, m, now)
	if err != nil {
		h.log.Error("sealing a message", "err", err)
		return nil, &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host could not seal the message"}
	}
	defer turn.done()
	turn.wait()
	sm.ID, sm.Sent, sm.Kind, sm.ContentType, sm.FileName = m.ID, m.Sent, m.Kind, m.ContentType, m.FileName
	sm.Body, sm.Expires, sm.Signed = m.Body, m.Expires, sealed.Signed
	if err := h.enqueue(sm, sealed.Envelope, turn.done); err != nil {
		h.chains.forget(key)
		return nil, h.storeError("store the message", err)
	}
	if expires != 0 {
		h.sweepSoon()
	}
	h.peers.keep(res) // now that the conversation is stored
	h.metrics.submitted.Inc()
	r := &hostapi.SubmitResult{Seq: sm.Seq, ID: m.ID, Recipient: key.Bytes()}
	if res.InFile {
		r.Name = res.Contact.Name
	}
	return r, nil
}

// sendable checks that a resolved recipient can be sealed to and reached.
func sendable(to string, res *contacts.Resolved, now time.Time) *hostapi.Error {
	switch {
	case res.Record == nil && len(res.Skipped) > 0:
		return &hostapi.Error{
			Code:    hostapi.ErrUnavailable,
			Message: fmt.Sprintf("no record of %q could be fetched: %v", to, res.Skipped[0]),
			Hint:    "its host or a directory may be down; try again later",
		}
	case res.Record == nil:
		return &hostapi.Error{
			Code:    hostapi.ErrUnknownRecipient,
			Message: fmt.Sprintf("no record of %q was found, so its KEM key is unknown", to),
			Hint:    "give the host's address in the contacts file (host=ADDR), or a directory with --dir",
		}
	case !now.Before(time.UnixMilli(res.Record.KEM.Expires)):
		return &hostapi.Error{
			Code:    hostapi.ErrUnavailable,
			Message: fmt.Sprintf("the KEM key in %q's record has expired", to),
			Hint:    "the recipient's host must publish a new record; try again later",
		}
	case res.Host() == "":
		return &hostapi.Error{
			Code:    hostapi.ErrUnknownRecipient,
			Message: fmt.Sprintf("%q has no host address", to),
			Hint:    "give one in the contacts file: smvs-register add --host ADDR NAME smvs1...",
		}
	}
	return nil
}

// resolveError is the device's error for a recipient that did not resolve.
func resolveError(to string, err error) *hostapi.Error {
	var changed *contacts.KeyChangedError
	switch {
	case errors.As(err, &changed):
		return &hostapi.Error{Code: hostapi.ErrKeyChanged, Message: changed.Error(), Hint: changed.Hint()}
	case errors.Is(err, contacts.ErrNotFound), errors.Is(err, dirclient.ErrNotFound):
		return &hostapi.Error{
			Code:    hostapi.ErrUnknownRecipient,
			Message: fmt.Sprintf("unknown recipient %q: no contact, key or directory record", to),
			Hint:    "check the name, or add the contact with: smvs-register add NAME smvs1...",
		}
	case errors.Is(err, names.ErrInvalid), errors.Is(err, identity.ErrBadPublicKey), errors.Is(err, contacts.ErrBadRecord):
		return &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &hostapi.Error{Code: hostapi.ErrUnavailable, Message: fmt.Sprintf("looking %q up took too long", to),
			Hint: "try again later"}
	}
	var insecure *contacts.InsecureFileError
	var parse *contacts.ParseError
	if errors.As(err, &insecure) || errors.As(err, &parse) {
		return &hostapi.Error{Code: hostapi.ErrInternal, Message: err.Error(), Hint: "fix the contacts file"}
	}
	return &hostapi.Error{Code: hostapi.ErrUnavailable, Message: fmt.Sprintf("looking %q up: %v", to, err),
		Hint: "a directory may be down; try again later"}
}

// tooLarge is the device's error for a message over the size limit.
func (h *Host) tooLarge(n int64) *hostapi.Error {
	return &hostapi.Error{
		Code:    hostapi.ErrTooLarge,
		Message: fmt.Sprintf("the message is too large: %d bytes, over this host's limit of %d bytes", n, h.cfg.MaxMessage),
		Hint:    "the host's limit is smvs-hostd --max-message",
	}
}

// storeError is the device's error for a store call that failed, logged:
// the host could not do what (as "store the message").
func (h *Host) storeError(what string, err error) *hostapi.Error {
	switch {
	case errors.Is(err, store.ErrQuota):
		h.log.Warn("refused: disk quota full", "op", what, "quota", h.cfg.Quota)
		return &hostapi.Error{Code: hostapi.ErrQuota, Message: "the host's disk quota is full",
			Hint: "delete messages, or raise smvs-hostd --quota"}
	case errors.Is(err, store.ErrClosed):
		return &hostapi.Error{Code: hostapi.ErrUnavailable, Message: "the host is shutting down", Hint: "try again later"}
	}
	h.log.Error("the store failed", "op", what, "err", err)
	return &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host could not " + what}
}

// readBody reads a device's body: inline if it is small, else sealed
// into a blob (sealBody).
func (h *Host) readBody(body io.Reader, onStream func(*store.BlobFile) *bodyPush) (*sealedBody, *hostapi.Error) {
	sb, err := h.sealBody(body, h.cfg.MaxMessage, onStream)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, &hostapi.Error{
			Code:    hostapi.ErrTooLarge,
			Message: fmt.Sprintf("the message is too large: over this host's limit of %d bytes", h.cfg.MaxMessage),
			Hint:    "the host's limit is smvs-hostd --max-message",
		}
	case errors.Is(err, store.ErrQuota), errors.Is(err, store.ErrClosed):
		return nil, h.storeError("store the message", err)
	case err != nil:
		h.log.Info("submit refused: the body did not arrive whole", "err", err)
		return nil, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "the body did not arrive whole: " + err.Error()}
	}
	return sb, nil
}
