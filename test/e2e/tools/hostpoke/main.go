// Command hostpoke talks to a running smvs-hostd the way no SMVS command
// would, for the end-to-end tests: it delivers envelopes addressed to
// someone else, replays an envelope, and sends garbage to a host's QUIC
// port or device socket. It prints each answer on stdout, one line each.
// It is a test tool, never installed.
//
//	hostpoke -identity FILE -addr ADDR -expect smvs1… foreign THIRD-IDENTITY-FILE
//	hostpoke -identity FILE -addr ADDR -expect smvs1… replay TEXT
//	hostpoke -identity FILE -addr ADDR -expect smvs1… garbage
//	hostpoke -socket PATH garbage
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

func main() {
	idFile := flag.String("identity", "", "the sender's identity `FILE` (unprotected)")
	addr := flag.String("addr", "", "the host's QUIC address")
	expect := flag.String("expect", "", "the host's identity key")
	socket := flag.String("socket", "", "a host's device socket, for garbage")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, *idFile, *addr, *expect, *socket, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "hostpoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, idFile, addr, expect, socket string, args []string) error {
	if len(args) == 0 {
		return errors.New("no mode")
	}
	if socket != "" {
		return socketGarbage(socket)
	}
	me, err := identity.ReadFile(idFile, nil)
	if err != nil {
		return err
	}
	peer, err := identity.ParsePublicKey(expect)
	if err != nil {
		return err
	}
	conn, err := transport.Dial(ctx, addr, me, peer, transport.Config{})
	if err != nil {
		return err
	}
	defer conn.Close()
	deliver := func(env []byte) error {
		resp, err := conn.Request(ctx, (&wire.HostRequest{Op: wire.OpDeliver, Envelope: env}).Encode())
		if err != nil {
			fmt.Println("error:", err)
			return nil
		}
		r, err := wire.DecodeHostResponse(resp)
		if err != nil {
			return err
		}
		fmt.Println(r.Status)
		return nil
	}

	switch args[0] {
	case "foreign", "replay":
		to, err := hostRecord(ctx, conn)
		if err != nil {
			return err
		}
		if args[0] == "foreign" {
			// A well-made envelope, but for someone other than the host's user.
			third, err := identity.ReadFile(args[1], nil)
			if err != nil {
				return err
			}
			kem, err := third.CurrentKEM(time.Now())
			if err != nil {
				return err
			}
			to = &wire.Record{V: wire.Version, Identity: third.Public().Bytes(), KEM: kem.Public()}
		}
		body := "hostpoke"
		if len(args) > 1 && args[0] == "replay" {
			body = args[1]
		}
		m := &wire.Message{Sent: time.Now().UnixMilli(), Kind: wire.KindText, ContentType: "text/plain; charset=utf-8", Body: []byte(body)}
		s, err := seal.Seal(me, to, m, time.Now())
		if err != nil {
			return err
		}
		if err := deliver(s.Envelope); err != nil {
			return err
		}
		if args[0] == "replay" {
			return deliver(s.Envelope)
		}
		return nil
	case "garbage":
		junk := make([]byte, 300)
		rand.Read(junk)
		resp, err := conn.Request(ctx, junk)
		if err != nil {
			fmt.Println("error:", err)
		} else if r, err := wire.DecodeHostResponse(resp); err == nil {
			fmt.Println(r.Status)
		} else {
			fmt.Println("undecodable answer")
		}
		return nil
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// hostRecord asks the host for its user's record and verifies it.
func hostRecord(ctx context.Context, conn *transport.Conn) (*wire.Record, error) {
	resp, err := conn.Request(ctx, (&wire.HostRequest{Op: wire.OpRecord}).Encode())
	if err != nil {
		return nil, err
	}
	r, err := wire.DecodeHostResponse(resp)
	if err != nil {
		return nil, err
	}
	return wire.VerifyRecord(r.Record)
}

// socketGarbage writes random bytes, then a frame header claiming 4 GiB, to
// a device socket, and prints whatever comes back before the host closes.
func socketGarbage(path string) error {
	for _, junk := range [][]byte{randomBytes(200), {0xff, 0xff, 0xff, 0xff, 1, 2, 3}} {
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(junk)
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		fmt.Printf("answered %d bytes\n", n)
		c.Close()
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
