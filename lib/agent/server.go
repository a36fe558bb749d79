package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Config is what a Server holds and whom it serves.
type Config struct {
	// Identity is the identity the agent holds, read from Path (protected
	// with Passphrase, or nil). The Server takes it and a copy of the
	// passphrase, and destroys them on Close. Path "" keeps changes in
	// memory, for tests.
	Identity   *identity.Identity
	Path       string
	Passphrase []byte
	// Allow lists the uids served besides the agent's own.
	Allow []uint32
	// Log receives refusals, and with LogUses one line for each use: the
	// caller's uid and pid, the operation, and the KEM key id or the
	// signing purpose, never the data. Nil logs nothing.
	Log     *slog.Logger
	LogUses bool

	// notSelf leaves the agent's own uid out of the allow list, so a test
	// can see a refusal.
	notSelf bool
}

// Server answers the agent protocol for one identity. It never puts a
// private key, a seed or a shared secret of another operation in an
// answer, a log line or an error.
type Server struct {
	cfg   Config
	allow map[uint32]bool

	mu   sync.RWMutex // write-held for every change to the keys
	id   *identity.Identity
	keys *identity.Keyring
	pass []byte

	// halves caches each KEM key's ML-KEM and X25519 keys, derived from
	// its seed; emptied with every change to the keys (s.mu write-held).
	halvesMu sync.Mutex
	halves   map[string]kemPair

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	requests *budget // what large requests may hold at once
}

// NewServer returns a Server holding cfg.Identity, which must be an
// identity key.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Identity == nil || cfg.Identity.Kind() != identity.KindIdentity {
		return nil, errors.New("agent: holds only an identity key")
	}
	s := &Server{cfg: cfg, allow: map[uint32]bool{}, id: cfg.Identity, conns: map[net.Conn]struct{}{}, halves: map[string]kemPair{},
		requests: newBudget(requestBudget)}
	if !cfg.notSelf {
		s.allow[uint32(os.Getuid())] = true
	}
	for _, uid := range cfg.Allow {
		s.allow[uid] = true
	}
	if cfg.Passphrase != nil {
		s.pass = bytes.Clone(cfg.Passphrase)
	}
	s.keys = identity.NewKeyring(s.id, cfg.Path, s.pass)
	s.cfg.Identity, s.cfg.Passphrase = nil, nil
	return s, nil
}

// Public returns the identity key held now.
func (s *Server) Public() identity.PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.id.Public()
}

// Serve accepts connections on l until l is closed or ctx is done, and
// serves each one, checking its caller's uid first. It refuses to serve
// where the system can't tell who the caller is. Failing to accept one
// connection does not stop it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if err := Supported(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	pruned := make(chan struct{})
	defer func() { <-pruned }()
	pruneCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pruned)
		s.pruneEvery(pruneCtx, pruneInterval)
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors, say: anyone may connect, so this
			// must not stop the agent. Wait a little, as net/http does.
			s.logf(slog.LevelWarn, "accepting a connection", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if !s.track(c) {
			c.Close()
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// pruneInterval is how often the agent destroys expired KEM keys itself,
// whether or not the host asks it to.
const pruneInterval = time.Hour

// pruneEvery destroys the expired KEM keys by the agent's clock, now and
// then every interval, until ctx is done: a host that never asks can't
// keep an old key alive past its grace.
func (s *Server) pruneEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.prune()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune destroys the KEM keys expired by the agent's clock, and says so
// before another request sees them gone.
func (s *Server) prune() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.keys.PruneKEM(time.Now())
	s.forgetHalves()
	switch {
	case err != nil:
		s.logf(slog.LevelError, "destroying expired KEM keys", "err", err)
	case n > 0:
		s.logf(slog.LevelInfo, "destroyed expired KEM keys", "count", n)
	}
}

func (s *Server) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	delete(s.conns, c)
	c.Close()
}

// Close ends every connection and destroys the keys held. The caller
// closes the listener first.
func (s *Server) Close() {
	s.connMu.Lock()
	s.closed = true
	s.requests.close()
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys.Close()
	s.forgetHalves()
	clear(s.pass)
}

// caller is who is on the other end of a connection.
type caller struct {
	uid uint32
	pid int32
}

// refusalTimeout bounds the wait to tell a refused caller why.
const refusalTimeout = 5 * time.Second

func (s *Server) serveConn(c net.Conn) {
	who, err := peerCred(c)
	if err != nil || !s.allow[who.uid] {
		c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	}
	if err != nil {
		s.logf(slog.LevelWarn, "refused a caller whose uid is unknown", "err", err)
		WriteResponse(c, errorResponse(ErrRefused, "the agent can't tell who is calling: "+err.Error()))
		return
	}
	if !s.allow[who.uid] {
		s.logf(slog.LevelWarn, fmt.Sprintf("refused uid %d, pid %d: not allowed", who.uid, who.pid), "uid", who.uid, "pid", who.pid)
		WriteResponse(c, errorResponse(ErrRefused, fmt.Sprintf("uid %d may not use this agent: it serves its own uid and those of --allow-user", who.uid)))
		return
	}
	for {
		req, release, err := readRequest(c, s.requests)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, errClosing) {
				s.logf(slog.LevelWarn, "bad request", "uid", who.uid, "pid", who.pid, "err", err)
				WriteResponse(c, errorResponse(ErrBadRequest, err.Error()))
			}
			return
		}
		resp := s.handle(who, req)
		if req.Sign != nil {
			clear(req.Sign.Data)
		}
		release()
		err = WriteResponse(c, resp)
		clearResponse(resp)
		if err != nil {
			return
		}
	}
}

// clearResponse overwrites the secrets of an answer once it is sent.
func clearResponse(r *Response) {
	for _, k := range r.StorageKeys {
		clear(k)
	}
	clear(r.Shared)
}

func errorResponse(code ErrorCode, msg string) *Response {
	if len(msg) > maxErrorMessage {
		msg = strings.ToValidUTF8(msg[:maxErrorMessage-3], "") + "..."
	}
	return &Response{Err: &Error{Code: code, Message: msg}}
}

// failure turns err into an error answer; its text names no secret.
func failure(err error) *Response {
	code := ErrInternal
	switch {
	case errors.Is(err, identity.ErrUnknownKEMKey):
		code = ErrUnknownKEMKey
	case errors.Is(err, identity.ErrExpiredKEMKey):
		code = ErrExpiredKEMKey
	case errors.Is(err, identity.ErrNoKEMKey):
		code = ErrNoKEMKey
	case errors.Is(err, ErrRotationRefused):
		code = ErrForbidden
	}
	return errorResponse(code, err.Error())
}

func (s *Server) logf(level slog.Level, msg string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log.Log(context.Background(), level, msg, args...)
	}
}

// logUse logs one use: never the data, only what it is for.
func (s *Server) logUse(who caller, op Op, args ...any) {
	if s.cfg.LogUses {
		s.logf(slog.LevelInfo, "use", append([]any{"uid", who.uid, "pid", who.pid, "op", op.String()}, args...)...)
	}
}

func (s *Server) handle(who caller, req *Request) *Response {
	switch req.Op {
	case OpRotateIdentity:
		s.logUse(who, req.Op)
		return s.rotateIdentity()
	case OpRotateKEM, OpPruneKEM, OpForgetRetired:
		// They change what the other operations read of s.id.
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.forgetHalves()
	default:
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	switch req.Op {
	case OpInfo:
		s.logUse(who, req.Op)
		info := &Info{Identity: s.id.Public().Bytes(), Rotations: s.id.Rotations()}
		if kem, err := s.keys.CurrentKEM(time.Now()); err == nil {
			info.KEM = &kem
		}
		return &Response{Info: info}
	case OpSign:
		purpose := Purpose(req.Sign.Data)
		s.logUse(who, req.Op, "purpose", purpose)
		if purpose == string(wire.PurposeRotation) {
			s.logf(slog.LevelWarn, "refused to sign a rotation statement", "uid", who.uid, "pid", who.pid)
			return failure(ErrRotationRefused)
		}
		sig, err := s.keys.Signer().Sign(nil, req.Sign.Data, crypto.Hash(0))
		if err != nil {
			return failure(err)
		}
		return &Response{Signature: sig}
	case OpStorageKeys:
		s.logUse(who, req.Op, "purpose", req.StorageKeys.Purpose)
		keys, err := s.keys.StorageKeys(req.StorageKeys.Purpose)
		if err != nil {
			return failure(err)
		}
		return &Response{StorageKeys: keys}
	case OpForgetRetired:
		s.logUse(who, req.Op)
		if err := s.keys.ForgetRetired(); err != nil {
			return failure(err)
		}
		return &Response{Done: true}
	case OpKEMKey:
		return s.kemKey(who, req.KEMKey)
	case OpDecapsulate, OpECDH:
		return s.decapsulate(who, req)
	case OpRotateKEM:
		r := req.RotateKEM
		s.logUse(who, req.Op)
		kem, err := s.keys.RotateKEM(time.UnixMilli(r.Now), time.Duration(r.Lifetime)*time.Millisecond, time.Duration(r.Grace)*time.Millisecond)
		if err != nil {
			return failure(err)
		}
		return &Response{KEM: &kem}
	case OpPruneKEM:
		s.logUse(who, req.Op)
		n, err := s.keys.PruneKEM(time.UnixMilli(req.PruneKEM.Now))
		if err != nil {
			return failure(err)
		}
		pruned := uint64(n)
		return &Response{Pruned: &pruned}
	}
	return errorResponse(ErrBadRequest, fmt.Sprintf("unknown operation %v", req.Op))
}

func (s *Server) kemKey(who caller, r *KEMKeyRequest) *Response {
	now := time.UnixMilli(r.Now)
	if len(r.ID) == 0 {
		s.logUse(who, OpKEMKey, "kem", "current")
		kem, err := s.keys.CurrentKEM(now)
		if err != nil {
			return failure(err)
		}
		return &Response{KEM: &kem}
	}
	s.logUse(who, OpKEMKey, "kem", hex.EncodeToString(r.ID))
	k, err := s.keys.KEMPrivateKey(r.ID, now)
	if err != nil {
		return failure(err)
	}
	pub := k.PublicKey().Bytes()
	return &Response{KEM: &wire.KEMPublic{ID: identity.KEMKeyID(pub), Key: pub, Expires: s.kemExpiry(r.ID)}}
}

// kemExpiry returns when the held KEM key id expires, in Unix ms; s.mu is
// held, so no change to the KEM keys runs.
func (s *Server) kemExpiry(id []byte) int64 {
	k, err := s.id.KEMKey(id, time.UnixMilli(0))
	if err != nil {
		return 0
	}
	return k.Expires().UnixMilli()
}

// decapsulate does one half of an MLKEM768-X25519 decapsulation with a
// held key: the caller's hpke.PrivateKey (see Client.KEMPrivateKey)
// combines the two halves.
func (s *Server) decapsulate(who caller, req *Request) *Response {
	r := req.Decapsulate
	if req.Op == OpECDH {
		r = req.ECDH
	}
	s.logUse(who, req.Op, "kem", hex.EncodeToString(r.ID))
	k, err := s.keys.KEMPrivateKey(r.ID, time.UnixMilli(r.Now))
	if err != nil {
		return failure(err)
	}
	pair, err := s.kemPair(r.ID, k)
	if err != nil {
		return failure(err)
	}
	var shared []byte
	if req.Op == OpDecapsulate {
		shared, err = pair.pq.Decapsulate(r.Data)
	} else {
		var pub *ecdh.PublicKey
		if pub, err = ecdh.X25519().NewPublicKey(r.Data); err == nil {
			shared, err = pair.t.ECDH(pub)
		}
	}
	if err != nil {
		return failure(fmt.Errorf("%v with KEM key %x: %w", req.Op, r.ID, err))
	}
	return &Response{Shared: shared}
}

// kemPair is one KEM key's two halves.
type kemPair struct {
	pq *mlkem.DecapsulationKey768
	t  *ecdh.PrivateKey
}

// kemPair returns the halves of the held key k, whose id is id.
func (s *Server) kemPair(id []byte, k hpke.PrivateKey) (kemPair, error) {
	s.halvesMu.Lock()
	defer s.halvesMu.Unlock()
	if p, ok := s.halves[string(id)]; ok {
		return p, nil
	}
	seed, err := k.Bytes()
	if err != nil {
		return kemPair{}, err
	}
	pq, t, err := kemHalves(seed, k.PublicKey().Bytes())
	if err != nil {
		return kemPair{}, err
	}
	p := kemPair{pq, t}
	s.halves[string(id)] = p
	return p, nil
}

// forgetHalves drops the derived KEM keys, so that a key destroyed in the
// identity is not kept here.
func (s *Server) forgetHalves() {
	s.halvesMu.Lock()
	defer s.halvesMu.Unlock()
	clear(s.halves)
}

// kemHalves derives the ML-KEM-768 and X25519 keys of an MLKEM768-X25519
// seed as crypto/hpke does (draft-ietf-hpke-pq: SHAKE256 of the seed gives
// the ML-KEM seed, then the X25519 key), and checks them against the
// public key, so a change in that derivation is an error, not a key that
// opens nothing.
func kemHalves(seed, public []byte) (*mlkem.DecapsulationKey768, *ecdh.PrivateKey, error) {
	xof := sha3.NewSHAKE256()
	xof.Write(seed)
	seedPQ := make([]byte, mlkem.SeedSize)
	defer clear(seedPQ)
	xof.Read(seedPQ)
	pq, err := mlkem.NewDecapsulationKey768(seedPQ)
	if err != nil {
		return nil, nil, err
	}
	seedT := make([]byte, X25519KeySize)
	defer clear(seedT)
	xof.Read(seedT)
	t, err := ecdh.X25519().NewPrivateKey(seedT)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(append(pq.EncapsulationKey().Bytes(), t.PublicKey().Bytes()...), public) {
		return nil, nil, errors.New("agent: the KEM key's halves do not make its public key")
	}
	return pq, t, nil
}

// rotateIdentity replaces the identity with a new one (Identity.Rotate),
// saved before it is used; the old one signs the rotation.
func (s *Server) rotateIdentity() *Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.id.Rotate(time.Now())
	if err != nil {
		return failure(err)
	}
	if err := save(next, s.cfg.Path, s.pass); err != nil {
		next.Destroy()
		return failure(fmt.Errorf("saving the new identity: %w", err))
	}
	s.keys.Close()
	s.forgetHalves()
	s.id = next
	s.keys = identity.NewKeyring(next, s.cfg.Path, s.pass)
	return &Response{Identity: next.Public().Bytes()}
}

// save writes id to path atomically, protected with pass if not nil, as
// identity.Keyring does.
func save(id *identity.Identity, path string, pass []byte) error {
	if path == "" {
		return nil
	}
	text := id.MarshalText()
	defer clear(text)
	data := text
	if pass != nil {
		var err error
		if data, err = identity.Encrypt(text, pass); err != nil {
			return err
		}
	}
	return identity.ReplaceFile(path, data)
}

// Purpose names what data is signed for, for the log: an SMVS purpose
// ("smvs/1 message"), a TLS 1.3 handshake signature, an X.509
// certificate, a BEP 44 item for the DHT (PROTOCOL.md 24.1), or "other".
func Purpose(data []byte) string {
	if bytes.HasPrefix(data, []byte("4:salt")) || bytes.HasPrefix(data, []byte("3:seqi")) {
		return "bep44 item"
	}
	if bytes.HasPrefix(data, []byte("smvs/")) {
		if i := bytes.IndexByte(data, 0); i > 0 && i <= 64 {
			return string(data[:i])
		}
	}
	const tlsPad = 64 // TLS 1.3 signs 64 spaces, a context string, a zero byte, a hash
	if len(data) > tlsPad && bytes.Equal(data[:tlsPad], bytes.Repeat([]byte{' '}, tlsPad)) {
		if i := bytes.IndexByte(data[tlsPad:], 0); i > 0 {
			return strings.ToLower(string(data[tlsPad : tlsPad+i]))
		}
	}
	if len(data) > 0 && data[0] == 0x30 {
		return "x509 certificate"
	}
	return "other"
}
