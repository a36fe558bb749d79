package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/identity"
)

// isolate gives the test an environment of its own: no SMVS_* or XDG_*
// setting from the caller, and an SMVS home holding a new identity
// (protected with passphrase, if not empty), which it returns with the
// identity's public key.
func isolate(t *testing.T, passphrase string) (string, identity.PublicKey) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SMVS_") || strings.HasPrefix(name, "XDG_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	// A short directory: a unix socket's path is limited to ~100 bytes.
	home, err := os.MkdirTemp("", "smvs-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	t.Setenv(cli.HomeEnv, home)
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	data := id.MarshalText()
	if passphrase != "" {
		data = encrypt(t, data, passphrase)
		if err := os.WriteFile(filepath.Join(home, "pass"), []byte(passphrase+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := identity.WriteNewFile(filepath.Join(home, "identity"), data); err != nil {
		t.Fatal(err)
	}
	return home, id.Public()
}

// encrypt protects data as identity.Encrypt does, with a cheap scrypt.
func encrypt(t *testing.T, data []byte, passphrase string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	aw.Close()
	return out.Bytes()
}

// running is an smvs-agent run in process.
type running struct {
	socket string
	stderr *clitest.Buffer
	stop   context.CancelFunc
	code   chan int
}

var exportLine = regexp.MustCompile(`^SMVS_AGENT_SOCK=(\S+); export SMVS_AGENT_SOCK;$`)

// start runs smvs-agent with args and waits until it serves, or exits.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	r := &running{stderr: &clitest.Buffer{}, stop: cancel, code: make(chan int, 1)}
	go func() {
		r.code <- run(ctx, append([]string{"smvs-agent"}, args...), w, r.stderr)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		io.Copy(io.Discard, out)
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("smvs-agent exited %d before serving:\n%s", <-r.code, r.stderr)
	}
	m := exportLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
	if m == nil {
		t.Fatalf("first line %q", line)
	}
	r.socket = m[1]
	go io.Copy(io.Discard, out)
	return r
}

// exit stops the agent and returns its exit status.
func (r *running) exit(t *testing.T) int {
	t.Helper()
	r.stop()
	select {
	case code := <-r.code:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("smvs-agent did not stop")
	}
	return -1
}

// runOnce runs smvs-agent until it exits by itself, and returns its exit
// status and standard error.
func runOnce(args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"smvs-agent"}, args...), &stdout, &stderr)
	return code, stderr.String()
}

func TestServe(t *testing.T) {
	home, pub := isolate(t, "correct horse")
	r := start(t, "--passphrase-file", filepath.Join(home, "pass"), "--log-uses")
	if r.socket != filepath.Join(home, "agent.sock") {
		t.Fatalf("socket %s, want agent.sock in the SMVS home", r.socket)
	}
	if want := "smvs-agent: holding " + pub.String(); !strings.Contains(r.stderr.String(), want) {
		t.Fatalf("standard error lacks %q:\n%s", want, r.stderr)
	}
	c, err := agent.Dial(r.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Public() != pub {
		t.Fatalf("the agent holds %v, want %v", c.Public(), pub)
	}
	if _, err := c.Signer().Sign(nil, []byte("smvs/1 message\x00hello"), crypto.Hash(0)); err != nil {
		t.Fatal(err)
	}
	next, err := c.RotateIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The rotated identity is saved protected, with the same passphrase
	// (decrypting it would take a second expensive scrypt; TestOperations
	// in lib/agent reads an unprotected one back).
	raw, err := os.ReadFile(filepath.Join(home, "identity"))
	if err != nil || !identity.IsEncrypted(raw) || next == pub {
		t.Fatalf("after rotating to %v, the file is not protected: %v", next, err)
	}
	if code := r.exit(t); code != 0 {
		t.Fatalf("exit %d on SIGTERM, want 0:\n%s", code, r.stderr)
	}
	if _, err := os.Lstat(r.socket); err == nil {
		t.Fatal("the socket is left behind")
	}
	unlock, err := identity.Lock(filepath.Join(home, "identity"))
	if err != nil {
		t.Fatalf("the identity's lock is still held: %v", err)
	}
	unlock()
	log := r.stderr.String()
	for _, want := range []string{"op=sign", `purpose="smvs/1 message"`, "op=rotate-identity"} {
		if !strings.Contains(log, want) {
			t.Errorf("--log-uses: the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "hello") || strings.Contains(log, "correct horse") || strings.Contains(log, "SECRET") {
		t.Fatalf("the log holds a secret:\n%s", log)
	}
}

func TestIdentityInUse(t *testing.T) {
	home, _ := isolate(t, "")
	unlock, err := identity.Lock(filepath.Join(home, "identity"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, stderr := runOnce()
	if code != exitInUse || !strings.Contains(stderr, fmt.Sprintf("in use by process %d", os.Getpid())) ||
		!strings.Contains(stderr, "smvs-agent: hint: ") {
		t.Fatalf("exit %d, want %d naming the owner:\n%s", code, exitInUse, stderr)
	}
}

func TestSocketInUse(t *testing.T) {
	home, _ := isolate(t, "")
	r := start(t)
	other := filepath.Join(home, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	id, _ := identity.Generate(identity.KindIdentity, time.Now())
	if err := identity.WriteNewFile(filepath.Join(other, "identity"), id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	code, stderr := runOnce("-i", filepath.Join(other, "identity"), "--socket", r.socket)
	if code != cli.ExitFailure || !strings.Contains(stderr, "another smvs-agent serves") {
		t.Fatalf("exit %d, want %d:\n%s", code, cli.ExitFailure, stderr)
	}
	if _, err := agent.Dial(r.socket); err != nil {
		t.Fatalf("the first agent no longer serves: %v", err)
	}
}

func TestLifetime(t *testing.T) {
	isolate(t, "")
	start := time.Now()
	code, stderr := runOnce("--lifetime", "300ms")
	if code != 0 || time.Since(start) < 300*time.Millisecond || !strings.Contains(stderr, "lifetime over") {
		t.Fatalf("exit %d after %v, want 0 after 300ms:\n%s", code, time.Since(start), stderr)
	}
}

func TestUsage(t *testing.T) {
	isolate(t, "")
	for _, args := range [][]string{
		{"--allow-user", "no-such-user-here"},
		{"--lifetime", "soon"},
		{"extra"},
	} {
		if code, stderr := runOnce(args...); code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d:\n%s", args, code, cli.ExitUsage, stderr)
		}
	}
}

func TestAllowUser(t *testing.T) {
	for name, want := range map[string]uint32{"0": 0, "root": 0, "4294967295": 4294967295} {
		if uid, err := lookupUID(name); err != nil || uid != want {
			t.Errorf("lookupUID(%q) = %d, %v; want %d", name, uid, err, want)
		}
	}
	if _, err := lookupUID("4294967296"); err == nil {
		t.Error("a uid over 32 bits was taken")
	}
}

func TestNoIdentity(t *testing.T) {
	home, _ := isolate(t, "")
	for _, path := range []string{filepath.Join(home, "none"), filepath.Join(home, "no", "such", "dir")} {
		code, stderr := runOnce("-i", path)
		if code != cli.ExitFailure || !strings.Contains(stderr, "no key file at "+path) || !strings.Contains(stderr, "hint: make one with: smvs-keygen") {
			t.Errorf("-i %s: exit %d, want 1 with a hint:\n%s", path, code, stderr)
		}
	}
}

// TestHealth checks --health against no agent, then a running one: it
// reads no identity, and asks no passphrase.
func TestHealth(t *testing.T) {
	_, pub := isolate(t, "")
	if code, stderr := runOnce("--health"); code != 1 || !strings.Contains(stderr, "unhealthy") {
		t.Errorf("no agent: status %d, stderr %q", code, stderr)
	}
	r := start(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"smvs-agent", "--health"}, &stdout, &stderr)
	if want := "smvs-agent: healthy: the agent on " + r.socket + " holds " + pub.String() + "\n"; code != 0 || stdout.String() != want {
		t.Errorf("a running agent: status %d, stdout %q, want %q; stderr %q", code, stdout.String(), want, stderr.String())
	}
}
