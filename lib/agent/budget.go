package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"smvs/lib/wire"
)

// A request to sign carries the message it signs, body and all, so it may
// be as large as the largest message a host takes. The agent reads a
// request as its bytes come (a frame header alone costs nothing), and
// one over smallRequest takes its size from a budget all connections
// share before it is read, given back once it is answered: callers
// can't make the agent hold more than requestBudget of large requests
// at once, however many connections they open; past it, they wait.
const (
	smallRequest  = 64 << 10
	requestBudget = 2 * MaxRequestFrame
)

// budget is a weighted semaphore that gives up when done is closed.
type budget struct {
	mu    sync.Mutex
	left  int64
	freed chan struct{} // closed and replaced when some is given back
	done  chan struct{}
}

func newBudget(n int64) *budget {
	return &budget{left: n, freed: make(chan struct{}), done: make(chan struct{})}
}

var errClosing = errors.New("the agent is closing")

// take takes n, waiting until that much is left; errClosing if the
// budget closed first.
func (b *budget) take(n int64) error {
	for {
		b.mu.Lock()
		if b.left >= n {
			b.left -= n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-b.done:
			return errClosing
		}
	}
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left += n
	close(b.freed)
	b.freed = make(chan struct{})
}

// close makes every take waiting, and every one after, fail.
func (b *budget) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
	default:
		close(b.done)
	}
}

// readRequest reads and strictly decodes one request frame from r, within
// b (if not nil), and returns the function that gives back what it took.
func readRequest(r io.Reader, b *budget) (*Request, func(), error) {
	var hdr [wire.FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("frame header: %w", wire.ErrTruncated)
		}
		return nil, nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	switch {
	case n == 0:
		return nil, nil, fmt.Errorf("frame: %w: empty payload", wire.ErrMalformed)
	case n > MaxRequestFrame:
		return nil, nil, fmt.Errorf("frame: %w: %d bytes, limit %d", wire.ErrTooLarge, n, MaxRequestFrame)
	}
	release := func() {}
	if n > smallRequest && b != nil {
		if err := b.take(n); err != nil {
			return nil, nil, err
		}
		release = func() { b.give(n) }
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, smallRequest)))
	if _, err := io.CopyN(&buf, r, n); err != nil {
		release()
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("frame of %d bytes: %w", n, wire.ErrTruncated)
		}
		return nil, nil, err
	}
	req, err := DecodeRequest(buf.Bytes())
	if err != nil {
		release()
		return nil, nil, err
	}
	return req, release, nil
}
