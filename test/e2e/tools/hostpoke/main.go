// Command hostpoke talks to a running smvs-hostd the way no SMVS command
// would, for the end-to-end tests: it delivers envelopes addressed to
// someone else, replays an envelope, sends garbage to a host's QUIC port
// or device socket, and crafts what a peer's faulty or malicious software
// could send: messages with a chain and id of its choosing, and requests
// to delete messages. It prints each answer on stdout, one line each.
// It is a test tool, never installed.
//
//	hostpoke -identity FILE -addr ADDR -expect smvs1… foreign THIRD-IDENTITY-FILE
//	hostpoke -identity FILE -addr ADDR -expect smvs1… replay TEXT
//	hostpoke -identity FILE -addr ADDR -expect smvs1… garbage
//	hostpoke -identity FILE -addr ADDR -expect smvs1… chain [-prev HASH] [-skip] [-id ID] TEXT
//	hostpoke -identity FILE -addr ADDR -expect smvs1… delete ID...
//	hostpoke -socket PATH garbage
//
// chain delivers a text message whose chain names HASH (hex; none: the
// message names no predecessor) and whose id is ID (hex; none: a random
// one), and prints "STATUS ID HASH": the host's answer, the message's id
// and its own chain hash, for a next message to name. With -skip it first
// signs a message chained to HASH that it never delivers, and chains TEXT
// to that one: the host sees a message go missing. The same -id with
// other text is the same message changed; two messages with the same
// -prev fork the chain.
//
// delete asks the host, as the sender, to delete its copies of the
// messages with these ids (hex): a signed, sealed wire.DeleteRequest, as
// smvs-rm --for-everyone has its host send. It prints the host's answer
// and the reason the host gave, if any: "refused by policy: …".
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// poke is a connection to a host as its peer, me.
type poke struct {
	ctx  context.Context
	me   *identity.Identity
	conn *transport.Conn
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
	conn, err := transport.Dial(ctx, addr, me.Signer(), peer, transport.Config{})
	if err != nil {
		return err
	}
	defer conn.Close()
	p := &poke{ctx: ctx, me: me, conn: conn}

	switch args[0] {
	case "foreign":
		if len(args) != 2 {
			return errors.New("foreign takes a third identity file")
		}
		return p.foreign(args[1])
	case "replay":
		body := "hostpoke"
		if len(args) > 1 {
			body = args[1]
		}
		return p.replay(body)
	case "garbage":
		return p.garbage()
	case "chain":
		return p.chain(args[1:])
	case "delete":
		return p.delete(args[1:])
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// deliver sends one envelope and returns the host's answer, or the error
// that stopped the request, as a status line.
func (p *poke) deliver(env []byte) (status string, err error) {
	r, failed, err := p.request(env)
	if r == nil {
		return failed, err
	}
	return r.Status.String(), nil
}

// request sends one envelope and returns the host's response; or, if the
// request itself failed, none and a status line that says why; or an
// error if the answer does not decode.
func (p *poke) request(env []byte) (r *wire.HostResponse, failed string, err error) {
	resp, err := p.conn.Request(p.ctx, (&wire.HostRequest{Op: wire.OpDeliver, Envelope: env}).Encode())
	if err != nil {
		return nil, "error: " + err.Error(), nil
	}
	r, err = wire.DecodeHostResponse(resp)
	return r, "", err
}

// foreign delivers a well-made envelope, but for someone other than the
// host's user.
func (p *poke) foreign(thirdFile string) error {
	third, err := identity.ReadFile(thirdFile, nil)
	if err != nil {
		return err
	}
	kem, err := third.CurrentKEM(time.Now())
	if err != nil {
		return err
	}
	to := &wire.Record{V: wire.Version, Identity: third.Public().Bytes(), KEM: kem.Public()}
	s, err := seal.Seal(p.me.Signer(), to, textMessage("hostpoke"), time.Now())
	if err != nil {
		return err
	}
	status, err := p.deliver(s.Envelope)
	if err == nil {
		fmt.Println(status)
	}
	return err
}

// replay delivers the same envelope twice.
func (p *poke) replay(body string) error {
	to, err := hostRecord(p.ctx, p.conn)
	if err != nil {
		return err
	}
	s, err := seal.Seal(p.me.Signer(), to, textMessage(body), time.Now())
	if err != nil {
		return err
	}
	for range 2 {
		status, err := p.deliver(s.Envelope)
		if err != nil {
			return err
		}
		fmt.Println(status)
	}
	return nil
}

func (p *poke) garbage() error {
	junk := randomBytes(300)
	resp, err := p.conn.Request(p.ctx, junk)
	if err != nil {
		fmt.Println("error:", err)
	} else if r, err := wire.DecodeHostResponse(resp); err == nil {
		fmt.Println(r.Status)
	} else {
		fmt.Println("undecodable answer")
	}
	return nil
}

// chain delivers a text message with the chain and id the flags give; see
// the package comment.
func (p *poke) chain(args []string) error {
	fs := flag.NewFlagSet("chain", flag.ContinueOnError)
	prev := fs.String("prev", "", "the chain `HASH` (hex) the message names")
	skip := fs.Bool("skip", false, "chain the message to one that is never delivered")
	id := fs.String("id", "", "the message `ID` (hex)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("chain takes one TEXT")
	}
	to, err := hostRecord(p.ctx, p.conn)
	if err != nil {
		return err
	}
	m := textMessage(fs.Arg(0))
	if m.Chain, err = hexFlag("-prev", *prev, wire.HashSize); err != nil {
		return err
	}
	if m.ID, err = hexFlag("-id", *id, wire.MessageIDSize); err != nil {
		return err
	}
	if *skip {
		missing := textMessage("never delivered")
		missing.Chain = m.Chain
		s, err := seal.Seal(p.me.Signer(), to, missing, time.Now())
		if err != nil {
			return err
		}
		m.Chain = wire.ChainHash(s.Signed)
	}
	s, err := seal.Seal(p.me.Signer(), to, m, time.Now())
	if err != nil {
		return err
	}
	status, err := p.deliver(s.Envelope)
	if err != nil {
		return err
	}
	fmt.Println(status, hex.EncodeToString(m.ID), hex.EncodeToString(wire.ChainHash(s.Signed)))
	return nil
}

// delete asks the host to delete the messages with the ids in args.
func (p *poke) delete(args []string) error {
	if len(args) == 0 {
		return errors.New("delete takes message ids")
	}
	req := new(wire.DeleteRequest)
	for _, a := range args {
		id, err := hexFlag("id", a, wire.MessageIDSize)
		if err != nil {
			return err
		}
		req.IDs = append(req.IDs, id)
	}
	to, err := hostRecord(p.ctx, p.conn)
	if err != nil {
		return err
	}
	m := &wire.Message{Sent: time.Now().UnixMilli(), Kind: wire.KindDelete, Body: req.Encode()}
	s, err := seal.Seal(p.me.Signer(), to, m, time.Now())
	if err != nil {
		return err
	}
	r, failed, err := p.request(s.Envelope)
	switch {
	case err != nil:
		return err
	case r == nil:
		fmt.Println(failed)
	case r.Message != "":
		fmt.Printf("%s: %s\n", r.Status, r.Message)
	default:
		fmt.Println(r.Status)
	}
	return nil
}

// textMessage is a text message with body as its text, sent now.
func textMessage(body string) *wire.Message {
	return &wire.Message{Sent: time.Now().UnixMilli(), Kind: wire.KindText, ContentType: "text/plain; charset=utf-8", Body: []byte(body)}
}

// hexFlag decodes s, of size bytes in hex; "" is nil.
func hexFlag(name, s string, size int) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%s %q: want %d bytes in hex", name, s, size)
	}
	return b, nil
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
