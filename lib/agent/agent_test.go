package agent

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/bech32"
	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/wire"
)

// agent is an in-process agent on a temporary socket, with a copy of its
// identity held in process to compare against.
type agent struct {
	server *Server
	socket string
	file   string // the identity file
	local  *identity.Identity
	log    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent serves cfg.Identity, or a new identity, saved in a temporary
// file, with cfg's allow list and options.
func startAgent(t testing.TB, cfg Config) *agent {
	t.Helper()
	id := cfg.Identity
	if id == nil {
		var err error
		if id, err = identity.Generate(identity.KindIdentity, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	local, err := identity.Unmarshal(id.MarshalText(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: a unix socket's path is limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &agent{socket: filepath.Join(dir, "run", "agent.sock"), file: filepath.Join(dir, "identity"), local: local, log: &syncBuffer{}}
	if err := identity.ReplaceFile(a.file, id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	cfg.Identity, cfg.Path = id, a.file
	cfg.Log = slog.New(slog.NewTextHandler(a.log, nil))
	if a.server, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(a.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.server.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		a.server.Close()
		local.Destroy()
	})
	return a
}

func dial(t testing.TB, a *agent) *Client {
	t.Helper()
	c, err := Dial(a.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// record is the agent's identity's record, as a directory serves it.
func record(t testing.TB, keys identity.Keys, now time.Time) *wire.Record {
	t.Helper()
	kem, err := keys.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Record{
		V: wire.Version, Name: "alice", Identity: keys.Public().Bytes(), KEM: kem,
		Seq: 1, Issued: now.UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli(),
	}
}

func TestOperations(t *testing.T) {
	a := startAgent(t, Config{LogUses: true})
	c := dial(t, a)
	local := identity.NewKeyring(a.local, "", nil)
	now := time.Now()

	if c.Public() != a.local.Public() {
		t.Fatalf("Public = %v, want %v", c.Public(), a.local.Public())
	}
	signed, err := wire.SignRecord(c.Signer(), record(t, c, now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.VerifyRecord(signed); err != nil {
		t.Fatalf("a record the agent signed: %v", err)
	}
	got, err := c.StorageKeys("store")
	if err != nil {
		t.Fatal(err)
	}
	if want := a.local.StorageKeys("store"); len(got) != 1 || !bytes.Equal(got[0], want[0]) {
		t.Fatalf("StorageKeys differ from the identity's")
	}
	kem, err := c.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := local.CurrentKEM(now); !bytes.Equal(kem.Key, want.Key) || kem.Expires != want.Expires {
		t.Fatalf("CurrentKEM differs from the identity's")
	}
	if _, err := c.KEMPrivateKey([]byte("8 bytes!"), now); !errors.Is(err, identity.ErrUnknownKEMKey) {
		t.Fatalf("KEMPrivateKey(unknown) = %v, want ErrUnknownKEMKey", err)
	}
	if _, err := c.KEMPrivateKey(kem.ID, time.UnixMilli(kem.Expires)); !errors.Is(err, identity.ErrExpiredKEMKey) {
		t.Fatalf("KEMPrivateKey(expired) = %v, want ErrExpiredKEMKey", err)
	}

	next, err := c.RotateKEM(now, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if now2, _ := c.CurrentKEM(now); !bytes.Equal(now2.ID, next.ID) {
		t.Fatal("RotateKEM did not make the new key current")
	}
	if n, err := c.PruneKEM(now.Add(2 * time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneKEM = %d, %v; want the old key pruned", n, err)
	}
	if _, err := c.KEMPrivateKey(kem.ID, now); !errors.Is(err, identity.ErrUnknownKEMKey) {
		t.Fatalf("a pruned key: %v, want ErrUnknownKEMKey", err)
	}
	saved, err := identity.ReadFile(a.file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := saved.CurrentKEM(now); err != nil || !bytes.Equal(k.ID(), next.ID) {
		t.Fatalf("the file's current KEM key is not the rotated one: %v", err)
	}
	saved.Destroy()

	old := c.Public()
	pub, err := c.RotateIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pub == old || c.Public() != pub {
		t.Fatalf("RotateIdentity: %v, Public %v, was %v", pub, c.Public(), old)
	}
	rotations, err := c.Rotations()
	if err != nil {
		t.Fatal(err)
	}
	if len(rotations) != 1 {
		t.Fatalf("%d rotations, want 1", len(rotations))
	}
	r, err := wire.VerifyRotation(rotations[0])
	if err != nil || !bytes.Equal(r.Old, old.Bytes()) || !bytes.Equal(r.New, pub.Bytes()) {
		t.Fatalf("rotation statement: %+v, %v", r, err)
	}
	saved, err = identity.ReadFile(a.file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Public() != pub || saved.Retired() != 1 {
		t.Fatalf("the file holds %v with %d retired, want %v with 1", saved.Public(), saved.Retired(), pub)
	}
	saved.Destroy()
	keys, err := c.StorageKeys("store")
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[1], a.local.StorageKey("store")) {
		t.Fatalf("after a rotation the old storage key comes second: %d keys, %v", len(keys), err)
	}
	if err := c.ForgetRetired(); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.StorageKeys("store"); err != nil || len(keys) != 1 {
		t.Fatalf("after ForgetRetired: %d storage keys, %v; want 1", len(keys), err)
	}
	if _, err := wire.SignRecord(c.Signer(), record(t, c, now)); err != nil {
		t.Fatalf("signing as the new identity: %v", err)
	}
}

// TestOpen checks that what seal.Seal sealed to the agent's identity opens
// through the agent as it does in process.
func TestOpen(t *testing.T) {
	a := startAgent(t, Config{})
	c := dial(t, a)
	local := identity.NewKeyring(a.local, "", nil)
	sender, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: []byte("hi alice")}
	sealed, err := seal.Seal(sender.Signer(), record(t, c, now), m, now)
	if err != nil {
		t.Fatal(err)
	}
	want, err := seal.Open(local, sealed.Envelope, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := seal.Open(c, sealed.Envelope, now)
	if err != nil {
		t.Fatalf("opening through the agent: %v", err)
	}
	if !bytes.Equal(got.Signed, want.Signed) || string(got.Message.Body) != "hi alice" {
		t.Fatal("the agent opened something else")
	}
	tampered := bytes.Clone(sealed.Envelope)
	tampered[len(tampered)-1] ^= 1
	if _, err := seal.Open(c, tampered, now); !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("a tampered envelope: %v, want ErrTampered", err)
	}
}

func TestRefusedUID(t *testing.T) {
	a := startAgent(t, Config{notSelf: true})
	_, err := Dial(a.socket)
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Dial = %v, want ErrNotAllowed", err)
	}
	if want := fmt.Sprintf("refused uid %d, pid %d", os.Getuid(), os.Getpid()); !strings.Contains(a.log.String(), want) {
		t.Fatalf("the refusal is not logged: %s", a.log.String())
	}
}

func TestAllowUID(t *testing.T) {
	a := startAgent(t, Config{notSelf: true, Allow: []uint32{uint32(os.Getuid())}})
	dial(t, a)
}

func TestRotationNotSigned(t *testing.T) {
	a := startAgent(t, Config{})
	c := dial(t, a)
	other, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = wire.SignRotation(c.Signer(), &wire.Rotation{Old: c.Public().Bytes(), New: other.Public().Bytes(), Issued: 1})
	if !errors.Is(err, ErrRotationRefused) {
		t.Fatalf("signing a rotation: %v, want ErrRotationRefused", err)
	}
	// The connection stays usable after a refusal.
	if _, err := c.Signer().Sign(nil, []byte("smvs/1 message\x00body"), crypto.Hash(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Signer().Sign(nil, make([]byte, 64), crypto.SHA512); err == nil {
		t.Fatal("an Ed25519ph signature was made")
	}
}

// TestNoSecretInLog runs every operation with every use logged and looks
// for the identity's secrets, and the secrets answered, in the log.
func TestNoSecretInLog(t *testing.T) {
	a := startAgent(t, Config{LogUses: true})
	c := dial(t, a)
	now := time.Now()
	text := string(a.local.MarshalText())
	var secrets [][]byte
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "SMVS-") {
			continue
		}
		secrets = append(secrets, []byte(line))
		_, data, err := bech32.Decode(strings.ToLower(line))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, data)
		if k, err := wire.DecodeKEMSecret(data); err == nil {
			secrets = append(secrets, k.Seed)
		}
	}
	keys, err := c.StorageKeys("store")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, keys...)
	sender, _ := identity.Generate(identity.KindIdentity, now)
	sealed, err := seal.Seal(sender.Signer(), record(t, c, now), &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: []byte("x")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Open(c, sealed.Envelope, now); err != nil {
		t.Fatal(err)
	}
	c.Signer().Sign(nil, []byte("smvs/1 message\x00the secret body"), crypto.Hash(0))
	c.RotateKEM(now, time.Hour, time.Hour)
	c.PruneKEM(now)
	c.RotateIdentity(context.Background())
	c.ForgetRetired()

	log := a.log.String()
	for _, want := range []string{"op=sign", "purpose=\"smvs/1 message\"", "op=decapsulate", "op=ecdh", "op=rotate-identity", "kem="} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "the secret body") {
		t.Error("the log holds the data signed")
	}
	for _, s := range secrets {
		for _, form := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), strings.ToLower(string(s))} {
			if len(form) >= 16 && strings.Contains(log, form) {
				t.Fatalf("the log holds a secret:\n%s", log)
			}
		}
	}
}

// TestRedial checks that a client whose connections the agent closed
// dials again.
func TestRedial(t *testing.T) {
	a := startAgent(t, Config{})
	c := dial(t, a)
	// Several kept connections, all to be closed.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { c.Rotations() })
	}
	wg.Wait()
	a.server.connMu.Lock()
	for conn := range a.server.conns {
		conn.Close()
	}
	a.server.connMu.Unlock()
	if _, err := c.Rotations(); err != nil {
		t.Fatalf("after the agent closed the connection: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	a := startAgent(t, Config{})
	c := dial(t, a)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			msg := []byte("smvs/1 message\x00" + strings.Repeat("x", i))
			sig, err := c.Signer().Sign(nil, msg, crypto.Hash(0))
			if err == nil && !bytes.Equal(sig, mustSign(a.local, msg)) {
				err = errors.New("a signature of another message")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustSign(id *identity.Identity, msg []byte) []byte {
	sig, err := id.Signer().Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		panic(err)
	}
	return sig
}

func TestListenRefusesLiveSocket(t *testing.T) {
	a := startAgent(t, Config{})
	if _, err := Listen(a.socket); !errors.Is(err, ErrRunning) {
		t.Fatalf("Listen on a live agent's socket: %v, want ErrRunning", err)
	}
	info, err := os.Stat(filepath.Dir(a.socket))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("the socket's directory: %v, %v; want 0755", info.Mode(), err)
	}
	if info, err := os.Stat(a.socket); err != nil || info.Mode().Perm() != 0o666 {
		t.Fatalf("the socket: %v, %v; want 0666", info.Mode(), err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // as an agent that died leaves it
	if l, err = Listen(path); err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l.Close()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil {
		t.Fatal("Listen replaced a file that is not a socket")
	}
}

// TestPrunesItself checks that the agent destroys a KEM key expired by its
// clock as it starts, though nobody asked.
func TestPrunesItself(t *testing.T) {
	past := time.Now().Add(-2 * time.Hour)
	id, err := identity.Generate(identity.KindIdentity, past)
	if err != nil {
		t.Fatal(err)
	}
	old, err := id.CurrentKEM(past)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.RotateKEM(past, identity.DefaultKEMLifetime, time.Minute); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, Config{Identity: id})
	c := dial(t, a)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.KEMPrivateKey(old.ID(), past)
		if errors.Is(err, identity.ErrUnknownKEMKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired KEM key is still held: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(a.log.String(), "destroyed expired KEM keys") {
		t.Fatalf("the log does not say:\n%s", a.log)
	}
}

// TestOpenAfterKEMRotation checks that an envelope sealed to the KEM key a
// rotation replaced still opens through the agent during its grace.
func TestOpenAfterKEMRotation(t *testing.T) {
	a := startAgent(t, Config{})
	c := dial(t, a)
	now := time.Now()
	sender, err := identity.Generate(identity.KindIdentity, now)
	if err != nil {
		t.Fatal(err)
	}
	before := record(t, c, now)
	if _, err := seal.Open(c, mustSeal(t, sender, before, now), now); err != nil {
		t.Fatal(err) // derives and keeps the old key's halves
	}
	if _, err := c.RotateKEM(now, time.Hour, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, to := range []*wire.Record{before, record(t, c, now)} {
		if _, err := seal.Open(c, mustSeal(t, sender, to, now), now); err != nil {
			t.Fatalf("sealed to KEM key %x: %v", to.KEM.ID, err)
		}
	}
	if _, err := seal.Open(c, mustSeal(t, sender, before, now), now.Add(time.Hour)); !errors.Is(err, identity.ErrExpiredKEMKey) {
		t.Fatalf("after its grace: %v, want ErrExpiredKEMKey", err)
	}
}

func mustSeal(t *testing.T, sender *identity.Identity, to *wire.Record, now time.Time) []byte {
	t.Helper()
	sealed, err := seal.Seal(sender.Signer(), to, &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: []byte("hi")}, now)
	if err != nil {
		t.Fatal(err)
	}
	return sealed.Envelope
}

// TestBadFrames checks that what is not a valid request is answered with
// error 2 and the connection closed, and that the agent goes on serving.
func TestBadFrames(t *testing.T) {
	a := startAgent(t, Config{})
	for name, frame := range map[string][]byte{
		"over the limit": binary.BigEndian.AppendUint32(nil, MaxRequestFrame+1),
		"unknown op":     wire.AppendFrame(nil, wire.Marshal(&Request{V: Version, Op: 99})),
		"not CBOR":       wire.AppendFrame(nil, []byte("hello")),
	} {
		conn, err := net.Dial("unix", a.socket)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(frame)
		_, err = ReadResponse(conn)
		var agentErr *Error
		if !errors.As(err, &agentErr) || agentErr.Code != ErrBadRequest {
			t.Errorf("%s: %v, want error 2", name, err)
		}
		if _, err := ReadResponse(conn); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: the connection goes on: %v", name, err)
		}
		conn.Close()
	}
	dial(t, a)
}
