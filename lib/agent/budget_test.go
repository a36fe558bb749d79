package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"smvs/lib/wire"
)

// signFrame is the frame of a sign request for n bytes.
func signFrame(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteRequest(&buf, &Request{Op: OpSign, Sign: &SignRequest{Data: make([]byte, n)}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRequestBudget: large requests share a budget, taken before they
// are read: one waits while others hold it, small ones never do, and a
// closing agent ends the wait.
func TestRequestBudget(t *testing.T) {
	big := signFrame(t, 2*smallRequest)
	b := newBudget(int64(len(big)) - wire.FrameHeaderSize + smallRequest) // room for one
	// A caller that sent the header of a large request and stalls.
	stalled, w := io.Pipe()
	defer w.Close()
	first := make(chan error, 1)
	go func() {
		_, release, err := readRequest(stalled, b)
		if err == nil {
			release()
		}
		first <- err
	}()
	w.Write(big[:wire.FrameHeaderSize])
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		taken := b.left < smallRequest+1
		b.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first request did not take the budget")
		}
	}

	second := make(chan error, 1)
	go func() {
		_, release, err := readRequest(bytes.NewReader(big), b)
		if err == nil {
			release()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("a second large request was read while the first held the budget: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	small := signFrame(t, 100)
	if req, release, err := readRequest(bytes.NewReader(small), b); err != nil || len(req.Sign.Data) != 100 {
		t.Fatalf("a small request: %v", err)
	} else {
		release()
	}
	w.Write(big[wire.FrameHeaderSize:])
	if err := <-first; err != nil {
		t.Fatalf("the first request: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the second request, once the first was answered: %v", err)
	}

	// One that waits ends when the agent closes.
	held := newBudget(smallRequest + 1)
	if err := held.take(smallRequest + 1); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, _, err := readRequest(bytes.NewReader(big), held)
		waiting <- err
	}()
	held.close()
	if err := <-waiting; !errors.Is(err, errClosing) {
		t.Errorf("waiting as the agent closes: %v, want errClosing", err)
	}
}

func TestReadRequestFrames(t *testing.T) {
	over := binary.BigEndian.AppendUint32(nil, MaxRequestFrame+1)
	if _, err := ReadRequest(bytes.NewReader(over)); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("a frame over the limit: %v", err)
	}
	// A header announcing a gigabyte, and then nothing: truncated, and
	// nothing the size of the announcement was made.
	huge := binary.BigEndian.AppendUint32(nil, 1<<30)
	if _, err := ReadRequest(bytes.NewReader(append(huge, 1, 2, 3))); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("a truncated frame: %v", err)
	}
	if _, err := ReadRequest(bytes.NewReader([]byte{0, 0})); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("a truncated header: %v", err)
	}
	if _, err := ReadRequest(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("no request: %v, want io.EOF", err)
	}
}
