package call

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// HostSignaller is the Signaller of a call stream of the user's host
// (hostapi.Client.Call or Answer). One goroutine of its own reads the
// stream, so a device that rings can watch the stream (Next) while it asks
// its user, then hand the same stream to Accept without losing a signal.
// It is safe for concurrent use.
type HostSignaller struct {
	stream *hostapi.CallStream
	log    *slog.Logger

	events chan *hostapi.CallEvent // closed when the stream ends; err says why
	closed chan struct{}
	close  sync.Once

	mu    sync.Mutex
	err   error
	taken [][]byte // calls another device of the user answered
}

// NewHostSignaller reads stream until it ends or Close. log (nil:
// discard) gets, at debug level, every signal sent and received, with the
// ICE candidates they carry.
func NewHostSignaller(stream *hostapi.CallStream, log *slog.Logger) *HostSignaller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HostSignaller{stream: stream, log: log, events: make(chan *hostapi.CallEvent, 64), closed: make(chan struct{})}
	go h.read()
	return h
}

func (h *HostSignaller) read() {
	defer close(h.events)
	for {
		ev, err := h.stream.Recv()
		if err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return
		}
		h.logSignal("call signal received", ev.Signal)
		if ev.Signal.Type == wire.SignalTaken {
			h.mu.Lock()
			h.taken = append(h.taken, bytes.Clone(ev.Signal.CallID))
			h.mu.Unlock()
		}
		select {
		case h.events <- ev:
		case <-h.closed:
			return
		}
	}
}

// Next returns the next event of the stream: a signal and the peer who
// sent it. Once the stream ended it returns why (io.EOF when the host
// ended it); ctx ending returns ctx's error and loses no event.
func (h *HostSignaller) Next(ctx context.Context) (*hostapi.CallEvent, error) {
	select {
	case ev, ok := <-h.events:
		if !ok {
			h.mu.Lock()
			defer h.mu.Unlock()
			return nil, h.err
		}
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Recv returns the next signal of the stream (see Next).
func (h *HostSignaller) Recv(ctx context.Context) (*wire.CallSignal, error) {
	ev, err := h.Next(ctx)
	if err != nil {
		return nil, err
	}
	return ev.Signal, nil
}

// Send sends sig to the host. If ctx ends before the host took it, the
// stream is closed: nothing more could follow sig in order.
func (h *HostSignaller) Send(ctx context.Context, sig *wire.CallSignal) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { h.Close() })
	defer stop()
	h.logSignal("call signal sent", sig)
	err := h.stream.Send(sig)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Taken reports whether the host said another device of the user
// answered the call id.
func (h *HostSignaller) Taken(id []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.taken {
		if bytes.Equal(t, id) {
			return true
		}
	}
	return false
}

// Close closes the stream; the host hangs up the calls still on it.
func (h *HostSignaller) Close() error {
	h.close.Do(func() { close(h.closed) })
	return h.stream.Close()
}

// logSignal logs a signal at debug level, with each ICE candidate it
// carries (trickled, or in an offer's or answer's SDP) on a line of its
// own, so a log shows which addresses a device gave away.
func (h *HostSignaller) logSignal(msg string, sig *wire.CallSignal) {
	ctx := context.Background()
	if !h.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	h.log.Debug(msg, "type", sig.Type, "reason", sig.Reason)
	if sig.Candidate != "" {
		h.log.Debug(msg, "type", sig.Type, "candidate", sig.Candidate)
	}
	for l := range strings.Lines(sig.SDP) {
		if c, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a="); ok && strings.HasPrefix(c, "candidate:") {
			h.log.Debug(msg, "type", sig.Type, "candidate", c)
		}
	}
}
