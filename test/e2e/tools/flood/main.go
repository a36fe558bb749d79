// Command flood attacks a running smvs-hostd as hostile peers would, for
// the end-to-end tests of its limits (test/e2e/flood.bats): for a given
// time it opens connections and streams from fresh keys and sends what
// the mode says, then prints one line of what happened. Every connection
// goes to -addr (127.0.0.1 in the tests); every loop ends with -for. It is
// a test tool, never installed.
//
//	flood -addr ADDR -expect smvs1… -for 8s frames -keys 64 -streams 2 -size BYTES
//	flood -addr ADDR -expect smvs1… -for 8s halfheaders -conns 200 -streams 64
//	flood -addr ADDR -expect smvs1… -for 8s device -conns 4 -streams 64 -size BYTES
//	flood -addr ADDR -expect smvs1… -for 8s blocked -keys 16 -size BYTES -block FILE
//
// frames: each fresh identity key has one connection with -streams
// streams, each sending full requests of -size bytes (a deliver request
// of junk) one after another. halfheaders: -conns connections of fresh
// keys, each keeping -streams streams open that carry two bytes, half a
// frame header; a stream the host ends is opened again (after a second if
// the host said busy). device: one fresh device key, never linked, with
// -conns connections opening every stream they may, each sending a
// request of -size bytes. blocked: -keys fresh identity keys, appended to
// the policy file -block first, each dialling again and again to send a
// request of -size bytes.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"smvs/lib/identity"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// counts is what a flood saw.
type counts struct {
	conns, connsRefused, streams, sent, answered, refused, busy, reset, other atomic.Int64
}

func (c *counts) String() string {
	return fmt.Sprintf("connections %d (refused %d), streams %d, requests sent %d, answered %d, refused by policy %d, busy %d, reset %d, other errors %d",
		c.conns.Load(), c.connsRefused.Load(), c.streams.Load(), c.sent.Load(), c.answered.Load(), c.refused.Load(),
		c.busy.Load(), c.reset.Load(), c.other.Load())
}

// note counts the outcome of one request.
func (c *counts) note(err error) {
	var reset *transport.ResetError
	switch {
	case err == nil:
		c.answered.Add(1)
	case errors.Is(err, transport.ErrRefused):
		c.refused.Add(1)
	case errors.As(err, &reset) && reset.Code == transport.CodeBusy:
		c.busy.Add(1)
	case errors.As(err, &reset):
		c.reset.Add(1)
	default:
		c.other.Add(1)
	}
}

type flood struct {
	addr   string
	expect identity.PublicKey
	cfg    transport.Config
	n      counts
}

func main() {
	addr := flag.String("addr", "", "the host's QUIC address")
	expect := flag.String("expect", "", "the host's identity key")
	dur := flag.Duration("for", 8*time.Second, "how long to flood")
	flag.Parse()
	if flag.NArg() < 1 {
		fail(errors.New("no mode: frames, halfheaders, device or blocked"))
	}
	key, err := identity.ParsePublicKey(*expect)
	if err != nil {
		fail(err)
	}
	mode := flag.Arg(0)
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	keys := fs.Int("keys", 16, "fresh keys")
	conns := fs.Int("conns", 1, "connections")
	streams := fs.Int("streams", 1, "streams a connection")
	size := fs.Int("size", 64<<10, "bytes a request")
	block := fs.String("block", "", "the policy `FILE` to list the keys in")
	fs.Parse(flag.Args()[1:])

	f := &flood{addr: *addr, expect: key, cfg: transport.Config{MaxFrame: *size + 1<<20, HandshakeTimeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	switch mode {
	case "frames":
		err = f.frames(ctx, *keys, *streams, *size)
	case "halfheaders":
		err = f.halfHeaders(ctx, *conns, *streams)
	case "device":
		err = f.device(ctx, *conns, *streams, *size)
	case "blocked":
		err = f.blocked(ctx, *keys, *size, *block)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("flood %s: %s\n", mode, &f.n)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "flood:", err)
	os.Exit(1)
}

// deliverRequest is a deliver request of size bytes whose envelope is junk.
func deliverRequest(size int) []byte {
	junk := make([]byte, max(size-16, 1))
	for i := range junk {
		junk[i] = byte(i)
	}
	return (&wire.HostRequest{Op: wire.OpDeliver, Envelope: junk}).Encode()
}

// dial connects with a fresh key of kind, or with id if not nil.
func (f *flood) dial(ctx context.Context, kind identity.Kind, id *identity.Identity) (*transport.Conn, error) {
	if id == nil {
		var err error
		if id, err = identity.Generate(kind, time.Now()); err != nil {
			return nil, err
		}
	}
	dial := transport.Dial
	if id.Kind() == identity.KindDevice {
		dial = transport.DialDevice
	}
	c, err := dial(ctx, f.addr, id.Signer(), f.expect, f.cfg)
	if err != nil {
		f.n.connsRefused.Add(1)
		return nil, err
	}
	f.n.conns.Add(1)
	return c, nil
}

// until runs fn in n goroutines, each again and again until ctx ends.
func until(ctx context.Context, n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (f *flood) frames(ctx context.Context, keys, streams, size int) error {
	req := deliverRequest(size)
	until(ctx, keys, func(int) {
		c, err := f.dial(ctx, identity.KindIdentity, nil)
		if err != nil {
			pause(ctx, 100*time.Millisecond)
			return
		}
		defer c.Close()
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() {
				for ctx.Err() == nil {
					select {
					case <-c.Done():
						return // the connection is over: dial again
					default:
					}
					f.n.streams.Add(1)
					f.n.sent.Add(1)
					_, err := c.Request(ctx, req)
					if ctx.Err() == nil {
						f.n.note(err)
					}
					if err != nil {
						// Paced as a sending host's retries are: this is a
						// flood of memory, not of CPU.
						pause(ctx, 100*time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
	})
	return nil
}

func (f *flood) halfHeaders(ctx context.Context, conns, streams int) error {
	var ids []*identity.Identity
	for range conns {
		id, err := identity.Generate(identity.KindIdentity, time.Now())
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	until(ctx, conns, func(i int) {
		c, err := f.dial(ctx, identity.KindIdentity, ids[i])
		if err != nil {
			pause(ctx, 500*time.Millisecond)
			return
		}
		defer c.Close()
		until(ctx, streams, func(int) { f.halfHeader(ctx, c) })
	})
	return nil
}

// halfHeader keeps one stream carrying half a frame header open until the
// host ends it or the flood is over.
func (f *flood) halfHeader(ctx context.Context, c *transport.Conn) {
	s, err := c.OpenStream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.n.other.Add(1)
			pause(ctx, time.Second)
		}
		return
	}
	f.n.streams.Add(1)
	stop := context.AfterFunc(ctx, func() { s.Reset(transport.CodeCanceled) })
	defer stop()
	defer s.Close()
	if _, err := s.NetConn().Write([]byte{0, 0}); err != nil {
		return
	}
	_, err = s.ReadFrame()
	if ctx.Err() != nil {
		return
	}
	f.n.note(err)
	var reset *transport.ResetError
	if errors.As(err, &reset) && reset.Code == transport.CodeBusy {
		pause(ctx, time.Second)
	}
}

func (f *flood) device(ctx context.Context, conns, streams, size int) error {
	dev, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		return err
	}
	until(ctx, conns, func(int) {
		c, err := f.dial(ctx, identity.KindDevice, dev)
		if err != nil {
			pause(ctx, 500*time.Millisecond)
			return
		}
		defer c.Close()
		until(ctx, streams, func(int) {
			f.deviceRequest(ctx, c, size)
			pause(ctx, 100*time.Millisecond)
		})
	})
	return nil
}

// deviceRequest sends a device protocol frame of size bytes of junk on a
// new stream and waits for the host's answer or the end of the stream.
func (f *flood) deviceRequest(ctx context.Context, c *transport.Conn, size int) {
	s, err := c.OpenStream(ctx)
	if err != nil {
		return
	}
	f.n.streams.Add(1)
	stop := context.AfterFunc(ctx, func() { s.Reset(transport.CodeCanceled) })
	defer stop()
	defer s.Close()
	nc := s.NetConn()
	go func() {
		hdr := binary.BigEndian.AppendUint32(nil, uint32(size))
		f.n.sent.Add(1)
		if _, err := nc.Write(hdr); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for left := size; left > 0 && ctx.Err() == nil; left -= len(chunk) {
			if _, err := nc.Write(chunk[:min(left, len(chunk))]); err != nil {
				return
			}
		}
	}()
	_, err = wire.ReadFrame(nc, 1<<20) // the host's answer: an error, for an unlinked device
	if ctx.Err() == nil {
		f.n.note(err)
	}
}

func (f *flood) blocked(ctx context.Context, keys, size int, block string) error {
	if block == "" {
		return errors.New("blocked: no -block file")
	}
	var ids []*identity.Identity
	var list []byte
	for range keys {
		id, err := identity.Generate(identity.KindIdentity, time.Now())
		if err != nil {
			return err
		}
		ids = append(ids, id)
		list = fmt.Appendf(list, "%s flood\n", id.Public())
	}
	fh, err := os.OpenFile(block, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(list); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	req := deliverRequest(size)
	until(ctx, keys, func(i int) {
		c, err := f.dial(ctx, identity.KindIdentity, ids[i])
		if err != nil {
			pause(ctx, 100*time.Millisecond)
			return
		}
		defer c.Close()
		f.n.sent.Add(1)
		_, err = c.Request(ctx, req)
		if ctx.Err() == nil {
			f.n.note(err)
		}
	})
	return nil
}
