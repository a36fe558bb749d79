package agent

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/mlkem"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// maxIdle bounds the connections a Client keeps open between calls: one
// per concurrent caller up to this, then each extra call dials its own.
const maxIdle = 8

// callTimeout bounds a call made without a context: long enough to sign
// the largest message.
const callTimeout = time.Minute

// Client talks to a running smvs-agent. It implements identity.Keys, so a
// host uses the agent's identity as its own without ever holding its
// private keys. It is safe for concurrent use: each call takes a
// connection of a small pool, or dials one.
type Client struct {
	path string

	mu     sync.Mutex
	idle   []net.Conn
	closed bool

	pubMu sync.RWMutex
	pub   identity.PublicKey
}

var _ identity.Keys = (*Client)(nil)

// Dial connects to the agent at the socket path and asks who it holds.
// An agent that refuses this user gives an error matching ErrNotAllowed.
func Dial(path string) (*Client, error) {
	c := &Client{path: path}
	if _, err := c.info(context.Background()); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connections kept open. Calls made afterwards fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.dropIdle()
	return nil
}

var errClosed = errors.New("agent: client closed")

// conn returns an open connection, and whether it was kept from an
// earlier call (and so may have been closed by the agent since).
func (c *Client) conn() (net.Conn, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errClosed
	}
	if n := len(c.idle); n > 0 {
		conn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return conn, true, nil
	}
	c.mu.Unlock()
	conn, err := net.Dial("unix", c.path)
	if err != nil {
		return nil, false, fmt.Errorf("agent: connecting to %s: %w", c.path, err)
	}
	return conn, false, nil
}

func (c *Client) dropIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.idle {
		conn.Close()
	}
	c.idle = nil
}

func (c *Client) put(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle) >= maxIdle {
		conn.Close()
		return
	}
	c.idle = append(c.idle, conn)
}

// call sends req and returns the answer. A kept connection that turns out
// broken is replaced by a new one once, if the operation may be repeated.
func (c *Client) call(ctx context.Context, req *Request) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		conn, kept, err := c.conn()
		if err != nil {
			return nil, err
		}
		resp, err := roundTrip(ctx, conn, req)
		var agentErr *Error
		switch {
		case err == nil || errors.As(err, &agentErr) && agentErr.Code != ErrRefused:
			c.put(conn)
			return resp, err
		case kept && attempt == 0 && repeatable(req.Op) && ctx.Err() == nil:
			// The agent closed it, or restarted: the other kept
			// connections are likely as dead, so the retry dials.
			conn.Close()
			c.dropIdle()
			continue
		}
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("agent: %v: %w", req.Op, ctx.Err())
		}
		if agentErr != nil {
			return nil, err
		}
		return nil, fmt.Errorf("agent: %v: %w", req.Op, err)
	}
}

// repeatable reports whether op may be sent again when it is not known
// whether the agent did it: everything but the rotations.
func repeatable(op Op) bool { return op != OpRotateKEM && op != OpRotateIdentity }

func roundTrip(ctx context.Context, conn net.Conn, req *Request) (*Response, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if err := WriteRequest(conn, req); err != nil {
		// An agent that refuses the caller answers before reading,
		// and closes: its answer says why.
		var refused *Error
		if _, rerr := ReadResponse(conn); errors.As(rerr, &refused) {
			return nil, refused
		}
		return nil, err
	}
	return ReadResponse(conn)
}

// expect checks that an answer carries the result asked for.
func expect(resp *Response, what string, present bool) error {
	if !present {
		return fmt.Errorf("agent: %w: the answer carries no %s", wire.ErrMalformed, what)
	}
	return nil
}

func (c *Client) info(ctx context.Context) (*Info, error) {
	resp, err := c.call(ctx, &Request{Op: OpInfo})
	if err != nil {
		return nil, err
	}
	if err := expect(resp, "identity", resp.Info != nil); err != nil {
		return nil, err
	}
	pub, err := identity.NewPublicKey(identity.KindIdentity, resp.Info.Identity)
	if err != nil {
		return nil, err
	}
	c.setPublic(pub)
	return resp.Info, nil
}

func (c *Client) setPublic(pub identity.PublicKey) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.pub = pub
}

// Public implements identity.Keys: the identity key the agent held when
// last asked (at Dial, Rotations or RotateIdentity).
func (c *Client) Public() identity.PublicKey {
	c.pubMu.RLock()
	defer c.pubMu.RUnlock()
	return c.pub
}

// Signer implements identity.Keys: its Sign asks the agent, which refuses
// to sign a rotation statement.
func (c *Client) Signer() crypto.Signer { return signer{c} }

type signer struct{ c *Client }

func (s signer) Public() crypto.PublicKey { return ed25519.PublicKey(s.c.Public().Bytes()) }

// Sign makes a pure Ed25519 signature of message; Ed25519ph and contexts
// are not offered.
func (s signer) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("agent: Ed25519 signs the message itself, not a hash")
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("agent: Ed25519 with a context is not offered")
	}
	resp, err := s.c.call(context.Background(), &Request{Op: OpSign, Sign: &SignRequest{Data: message}})
	if err != nil {
		return nil, err
	}
	if err := expect(resp, "signature", resp.Signature != nil); err != nil {
		return nil, err
	}
	return resp.Signature, nil
}

// StorageKeys implements identity.Keys.
func (c *Client) StorageKeys(purpose string) ([][]byte, error) {
	resp, err := c.call(context.Background(), &Request{Op: OpStorageKeys, StorageKeys: &StorageKeysRequest{Purpose: purpose}})
	if err != nil {
		return nil, err
	}
	if err := expect(resp, "storage keys", len(resp.StorageKeys) > 0); err != nil {
		return nil, err
	}
	return resp.StorageKeys, nil
}

// ForgetRetired implements identity.Keys.
func (c *Client) ForgetRetired() error {
	resp, err := c.call(context.Background(), &Request{Op: OpForgetRetired})
	if err != nil {
		return err
	}
	return expect(resp, "confirmation", resp.Done)
}

// Rotations implements identity.Keys.
func (c *Client) Rotations() ([][]byte, error) {
	info, err := c.info(context.Background())
	if err != nil {
		return nil, err
	}
	return info.Rotations, nil
}

// CurrentKEM implements identity.Keys.
func (c *Client) CurrentKEM(now time.Time) (wire.KEMPublic, error) {
	return c.kemKey(nil, now)
}

func (c *Client) kemKey(id []byte, now time.Time) (wire.KEMPublic, error) {
	resp, err := c.call(context.Background(), &Request{Op: OpKEMKey, KEMKey: &KEMKeyRequest{ID: id, Now: now.UnixMilli()}})
	if err != nil {
		return wire.KEMPublic{}, err
	}
	if err := expect(resp, "KEM key", resp.KEM != nil); err != nil {
		return wire.KEMPublic{}, err
	}
	return *resp.KEM, nil
}

// KEMPrivateKey implements identity.Keys: the key's public half comes
// from the agent, and each decapsulation asks the agent for the ML-KEM
// and the X25519 shared secrets, which crypto/hpke combines.
func (c *Client) KEMPrivateKey(keyID []byte, now time.Time) (hpke.PrivateKey, error) {
	kem, err := c.kemKey(keyID, now)
	if err != nil {
		return nil, err
	}
	split := mlkem.EncapsulationKeySize768
	pq, err := mlkem.NewEncapsulationKey768(kem.Key[:split])
	if err != nil {
		return nil, fmt.Errorf("agent: KEM key %x: %w", keyID, err)
	}
	t, err := ecdh.X25519().NewPublicKey(kem.Key[split:])
	if err != nil {
		return nil, fmt.Errorf("agent: KEM key %x: %w", keyID, err)
	}
	half := remoteKEM{c: c, id: kem.ID, now: now.UnixMilli()}
	return hpke.NewHybridPrivateKey(remoteDecapsulator{half, pq}, remoteKeyExchanger{half, t})
}

// remoteKEM is one KEM key held by the agent, as of a time.
type remoteKEM struct {
	c   *Client
	id  []byte
	now int64
}

func (r remoteKEM) ask(op Op, data []byte) ([]byte, error) {
	req := &Request{Op: op}
	k := &KEMRequest{ID: r.id, Data: data, Now: r.now}
	if op == OpDecapsulate {
		req.Decapsulate = k
	} else {
		req.ECDH = k
	}
	resp, err := r.c.call(context.Background(), req)
	if err != nil {
		return nil, err
	}
	if err := expect(resp, "shared secret", resp.Shared != nil); err != nil {
		return nil, err
	}
	return resp.Shared, nil
}

// remoteDecapsulator is the ML-KEM-768 half, a crypto.Decapsulator.
type remoteDecapsulator struct {
	remoteKEM
	pub *mlkem.EncapsulationKey768
}

func (d remoteDecapsulator) Encapsulator() crypto.Encapsulator { return d.pub }

func (d remoteDecapsulator) Decapsulate(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) != MLKEMCiphertextSize {
		return nil, fmt.Errorf("agent: ML-KEM ciphertext of %d bytes, want %d", len(ciphertext), MLKEMCiphertextSize)
	}
	return d.ask(OpDecapsulate, ciphertext)
}

// remoteKeyExchanger is the X25519 half, an ecdh.KeyExchanger.
type remoteKeyExchanger struct {
	remoteKEM
	pub *ecdh.PublicKey
}

func (x remoteKeyExchanger) PublicKey() *ecdh.PublicKey { return x.pub }
func (x remoteKeyExchanger) Curve() ecdh.Curve          { return ecdh.X25519() }

func (x remoteKeyExchanger) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	if peer.Curve() != ecdh.X25519() {
		return nil, errors.New("agent: not an X25519 key")
	}
	return x.ask(OpECDH, peer.Bytes())
}

// RotateKEM implements identity.Keys; the agent saves the change.
func (c *Client) RotateKEM(now time.Time, lifetime, grace time.Duration) (wire.KEMPublic, error) {
	resp, err := c.call(context.Background(), &Request{Op: OpRotateKEM, RotateKEM: &RotateKEMRequest{
		Now: now.UnixMilli(), Lifetime: lifetime.Milliseconds(), Grace: grace.Milliseconds(),
	}})
	if err != nil {
		return wire.KEMPublic{}, err
	}
	if err := expect(resp, "KEM key", resp.KEM != nil); err != nil {
		return wire.KEMPublic{}, err
	}
	return *resp.KEM, nil
}

// PruneKEM implements identity.Keys; the agent saves the change.
func (c *Client) PruneKEM(now time.Time) (int, error) {
	resp, err := c.call(context.Background(), &Request{Op: OpPruneKEM, PruneKEM: &PruneKEMRequest{Now: now.UnixMilli()}})
	if err != nil {
		return 0, err
	}
	if err := expect(resp, "count", resp.Pruned != nil); err != nil {
		return 0, err
	}
	return int(*resp.Pruned), nil
}

// RotateIdentity asks the agent to replace the identity with a new one it
// makes itself (identity.Identity.Rotate), saved to its file before the
// answer, and returns the new identity key. The caller then publishes the
// new record (see record.New), which carries the rotation chain.
func (c *Client) RotateIdentity(ctx context.Context) (identity.PublicKey, error) {
	resp, err := c.call(ctx, &Request{Op: OpRotateIdentity})
	if err != nil {
		return identity.PublicKey{}, err
	}
	if err := expect(resp, "identity key", resp.Identity != nil); err != nil {
		return identity.PublicKey{}, err
	}
	pub, err := identity.NewPublicKey(identity.KindIdentity, resp.Identity)
	if err != nil {
		return identity.PublicKey{}, err
	}
	c.setPublic(pub)
	return pub, nil
}
