package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/delivery"
	"smvs/lib/host"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// isolate gives the test an environment of its own: no SMVS_* setting
// from the caller, and HOME and XDG directories in a temporary directory,
// which it returns.
func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SMVS_") || strings.HasPrefix(name, "XDG_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

// newHome makes an SMVS home with an identity, protected with passphrase
// if it is not empty, sets SMVS_HOME to it, and returns it and the key.
func newHome(t *testing.T, passphrase string) (string, identity.PublicKey) {
	t.Helper()
	home := t.TempDir()
	t.Setenv(cli.HomeEnv, home)
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	data := id.MarshalText()
	if passphrase != "" {
		// Encrypted here with a cheap scrypt, as identity.Encrypt does.
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
		data = out.Bytes()
	}
	if err := identity.WriteNewFile(filepath.Join(home, "identity"), data); err != nil {
		t.Fatal(err)
	}
	return home, id.Public()
}

// daemon is an smvs-hostd running in-process.
type daemon struct {
	addr, id, socket string
	stop             func() int // cancels its context, as SIGTERM does, and returns the exit status
	stderr           *clitest.Buffer
}

// startLine is what smvs-hostd prints on standard output once it serves.
var startLine = regexp.MustCompile(`^smvs-hostd: listening on (\S+) id (smvs1\S+) socket (.+)\n$`)

// start runs smvs-hostd with args and waits for its start line.
func start(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	d := &daemon{stderr: &clitest.Buffer{}}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"smvs-hostd"}, args...), stdoutW, d.stderr)
		stdoutW.Close()
		done <- code
	}()
	var once sync.Once
	var code int
	d.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("smvs-hostd did not stop; stderr:\n%s", d.stderr)
			}
		})
		return code
	}
	t.Cleanup(func() { d.stop() })

	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no start line (%v); status %d, stderr:\n%s", err, d.stop(), d.stderr)
	}
	go io.Copy(io.Discard, stdoutR)
	m := startLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start line %q, want %q", line, startLine)
	}
	d.addr, d.id, d.socket = m[1], m[2], m[3]
	return d
}

// request sends one request to a daemon's socket and returns the answer.
func request(t *testing.T, socket string, r *hostapi.Request) (*hostapi.Response, error) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := hostapi.WriteRequest(c, r); err != nil {
		t.Fatal(err)
	}
	return hostapi.ReadResponse(c, hostapi.MaxFrame)
}

func TestStartAndStop(t *testing.T) {
	isolate(t)
	home, key := newHome(t, "")
	d := start(t, "--listen", "127.0.0.1:0", "--log-level", "debug")
	if !strings.HasPrefix(d.addr, "127.0.0.1:") || strings.HasSuffix(d.addr, ":0") || d.id != key.String() {
		t.Errorf("start line: addr %q id %q", d.addr, d.id)
	}
	if d.socket != filepath.Join(home, "host.sock") {
		t.Errorf("socket %q, want host.sock in the SMVS home", d.socket)
	}
	for path, mode := range map[string]os.FileMode{d.socket: 0o600, filepath.Join(home, "store"): 0o700} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %04o", path, info, mode)
		}
	}
	// A history request gets its (empty) history: only the live event that
	// ends it, then the host closes.
	if r, err := request(t, d.socket, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}}); err != nil || r.Event == nil || r.Event.Kind != hostapi.EventLive {
		t.Errorf("empty list: %+v, %v, want the live event", r, err)
	}
	// A second host, with a copy of the identity in another home, refuses
	// the same socket.
	copyHome(t, home)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, []string{"smvs-hostd", "--listen", "127.0.0.1:0", "--socket", d.socket, "--data", filepath.Join(home, "other")}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "another smvs-hostd serves this socket") ||
		!strings.Contains(stderr.String(), "smvs-hostd: hint: is smvs-hostd already running?") || stdout.Len() != 0 {
		t.Errorf("second host: status %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}

	if code := d.stop(); code != 0 {
		t.Fatalf("stop: status %d, stderr:\n%s", code, d.stderr)
	}
	if _, err := os.Stat(d.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
	log := d.stderr.String()
	for _, want := range []string{"msg=started", "msg=stopping", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

func TestTwoHostsAndAPassphrase(t *testing.T) {
	isolate(t)
	bobHome, bobKey := newHome(t, "")
	bob := start(t, "--listen", "127.0.0.1:0", "--max-message", "1KiB")

	aliceHome, _ := newHome(t, "correct horse")
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	alice := start(t, "--listen", "127.0.0.1:0", "--passphrase-file", pass)
	contactsFile := "bob " + bobKey.String() + " host=" + bob.addr + "\n"
	if err := os.WriteFile(filepath.Join(aliceHome, "contacts"), []byte(contactsFile), 0o600); err != nil {
		t.Fatal(err)
	}

	r, err := request(t, alice.socket, &hostapi.Request{Op: hostapi.OpSubmit,
		Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("hello from alice")}})
	if err != nil {
		t.Fatalf("submit: %v\nstderr:\n%s", err, alice.stderr)
	}
	// bob's host can't find alice's record to send a receipt: the message
	// stays Sent.
	id := r.Sent.ID
	for i := 0; ; i++ {
		r, err = request(t, alice.socket, &hostapi.Request{Op: hostapi.OpStatus, Status: &hostapi.Status{ID: id}})
		if err == nil && r.Status.Status == delivery.Sent {
			break
		}
		if i == 1000 {
			t.Fatalf("status: %+v, %v\nstderr:\n%s", r, err, alice.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Setenv(cli.HomeEnv, bobHome)
	r, err = request(t, bob.socket, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}})
	if err != nil || string(r.Event.Item.Body) != "hello from alice" {
		t.Fatalf("bob's list: %+v, %v", r, err)
	}
	// Over bob's --max-message: alice's host is told it is too large, and
	// gives the message up.
	r, err = request(t, alice.socket, &hostapi.Request{Op: hostapi.OpSubmit,
		Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: bytes.Repeat([]byte("x"), 2000)}})
	if err != nil {
		t.Fatalf("large submit at alice: %v", err)
	}
	r, err = request(t, alice.socket, &hostapi.Request{Op: hostapi.OpStatus, Status: &hostapi.Status{ID: r.Sent.ID, Wait: 20000}})
	if err != nil || r.Status.Status != delivery.Failed {
		t.Errorf("status of the large message: %+v, %v", r, err)
	}
	for _, d := range []*daemon{alice, bob} {
		if code := d.stop(); code != 0 {
			t.Errorf("stop: status %d, stderr:\n%s", code, d.stderr)
		}
	}
	if !strings.Contains(alice.stderr.String(), `status="too large"`) {
		t.Errorf("alice's log does not say the message was too large:\n%s", alice.stderr)
	}
	if strings.Contains(alice.stderr.String()+bob.stderr.String(), "hello from alice") {
		t.Error("a log holds message content")
	}
}

// result is what one run of smvs-hostd that exits by itself did.
type result struct {
	code           int
	stdout, stderr string
}

// copyHome makes another SMVS home holding a copy of home's identity, and
// returns it.
func copyHome(t *testing.T, home string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, "identity"))
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	t.Setenv(cli.HomeEnv, other)
	if err := identity.WriteNewFile(filepath.Join(other, "identity"), data); err != nil {
		t.Fatal(err)
	}
	return other
}

func runHostd(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, append([]string{"smvs-hostd"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsageErrors(t *testing.T) {
	home := isolate(t)
	t.Setenv(cli.HomeEnv, filepath.Join(home, "smvs"))
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--listen", "7447"}, `invalid --listen address "7447"`},
		{[]string{"--listen", ":7447"}, "--listen :7447 takes every address: say where other hosts reach this one with --advertise"},
		{[]string{"--listen", "0.0.0.0:7447"}, "--listen 0.0.0.0:7447 takes every address"},
		{[]string{"--advertise", "nowhere"}, `--advertise: invalid host address "nowhere"`},
		{[]string{"--name", "x"}, "--name: invalid name"},
		{[]string{"--max-message", "lots"}, `invalid --max-message "lots"`},
		{[]string{"--max-message", "0"}, `invalid --max-message "0"`},
		{[]string{"--max-message", "1025GiB"}, "--max-message 1025GiB is over the limit"},
		{[]string{"--quota", "-1"}, `invalid --quota "-1"`},
		{[]string{"--retry-for", "0d"}, `invalid --retry-for: "0d" is not a positive duration`},
		{[]string{"--backoff-min", "1m", "--backoff-max", "1s"}, "--backoff-max 1s is below --backoff-min 1m0s"},
		{[]string{"--peer-rate", "0"}, "invalid --peer-rate 0"},
		{[]string{"--peer-burst", "0"}, "invalid --peer-burst 0"},
		{[]string{"--peer-streams", "0"}, "invalid --peer-streams 0"},
		{[]string{"--max-connections", "0"}, "invalid --max-connections 0"},
		{[]string{"--max-connections-per-address", "-1"}, "invalid --max-connections-per-address -1"},
		{[]string{"--stranger-rate", "-1"}, `invalid --stranger-rate "-1"`},
		{[]string{"--stranger-rate", "many"}, `invalid --stranger-rate "many"`},
		{[]string{"--stranger-burst", "0"}, "invalid --stranger-burst 0"},
		{[]string{"--stranger-streams", "0"}, "invalid --stranger-streams 0"},
		{[]string{"--stranger-quota", "lots"}, `invalid --stranger-quota "lots"`},
		{[]string{"--stranger-key-quota", "-5"}, `invalid --stranger-key-quota "-5"`},
		{[]string{"--peer-deletes", "some"}, `--peer-deletes: unknown policy "some" for peers' deletions: want own or none`},
		{[]string{"--port-mapping", "upnp"}, `--port-mapping: unknown port mapping "upnp": want auto, off or any-address`},
		{[]string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{[]string{"--dir-pin", "sha256//x"}, "--dir-pin given without --dir"},
		{[]string{"--passphrase-fd", "3", "--passphrase-file", "f"}, "--passphrase-fd and --passphrase-file both given"},
	} {
		r := runHostd(t, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "smvs-hostd: error: "+tt.message) ||
			!strings.HasSuffix(r.stderr, "\nsmvs-hostd: hint: see 'smvs-hostd --help'\n") || r.stdout != "" {
			t.Errorf("%q: status %d, stdout %q, stderr:\n%s\nwant status 2, %q and a hint to see --help",
				tt.args, r.code, r.stdout, r.stderr, tt.message)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "smvs")); err == nil {
		t.Error("usage errors made the SMVS home")
	}
}

func TestFailures(t *testing.T) {
	isolate(t)
	home, _ := newHome(t, "")
	r := runHostd(t, "--listen", "127.0.0.1:0", "--home", filepath.Join(home, "missing"))
	if r.code != 1 || !strings.Contains(r.stderr, "smvs-hostd: error: no key file at") ||
		!strings.Contains(r.stderr, "smvs-hostd: hint: make one with: smvs-keygen") {
		t.Errorf("no identity: status %d, stderr:\n%s", r.code, r.stderr)
	}
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r = runHostd(t, "--listen", busy.LocalAddr().String())
	if r.code != 1 || !strings.Contains(r.stderr, "smvs-hostd: error: can't listen on "+busy.LocalAddr().String()) {
		t.Errorf("busy port: status %d, stderr:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "host.sock")); err == nil {
		t.Error("a failed start left its socket")
	}
	// The data directory of another identity (made by the failed start
	// above) is refused.
	newHome(t, "")
	r = runHostd(t, "--listen", "127.0.0.1:0", "--data", filepath.Join(home, "store"))
	if r.code != 1 || !strings.Contains(r.stderr, "belongs to another identity") ||
		!strings.Contains(r.stderr, "smvs-hostd: hint: the identity file may be another user's") {
		t.Errorf("another identity's data: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "100": 100, "100B": 100, "64MiB": 64 << 20, "1KiB": 1024, "500KB": 500000, "2GB": 2e9, "1GiB": 1 << 30,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TiB", "9223372036854775807KiB", "ten"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	isolate(t)
	r := runHostd(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--advertise") || !strings.Contains(r.stdout, "[$SMVS_HOSTD_LISTEN]") || r.stderr != "" {
		t.Errorf("--help: status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runHostd(t, "--version")
	if r.code != 0 || !regexp.MustCompile(`^smvs-hostd \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: status %d, stdout %q", r.code, r.stdout)
	}
}

// TestManPage checks that man/smvs-hostd.8 documents every flag and its
// environment twin, and no flag that does not exist, so the manual can't
// drift from --help.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-hostd.8",
		App:       newApp(context.Background()),
		FlagEnv:   true,
		ExitCodes: []int{0, 1, 2, exitNameTaken, exitIdentityInUse, exitNoAgent, exitUnreachable},
	})
}

// parsed returns the host configuration args give.
func parsed(t *testing.T, args ...string) host.Config {
	t.Helper()
	app := newApp(context.Background())
	var cfg *config
	app.Action = func(c *urfave.Context) error {
		var err error
		cfg, err = parseConfig(c)
		return err
	}
	if err := app.Run(append([]string{"smvs-hostd"}, args...)); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return cfg.host
}

// TestStrangerFlags: the strangers' limits take their defaults, a value,
// or, with 0 or off, no limit.
func TestStrangerFlags(t *testing.T) {
	home := isolate(t)
	t.Setenv(cli.HomeEnv, filepath.Join(home, "smvs"))
	h := parsed(t)
	if h.StrangerRate != host.DefaultStrangerRate || h.StrangerBurst != host.DefaultStrangerBurst ||
		h.StrangerStreams != host.DefaultStrangerStreams || h.StrangerQuota != host.DefaultStrangerQuota ||
		h.StrangerKeyQuota != host.DefaultStrangerKeyQuota {
		t.Errorf("defaults: rate %v, burst %d, streams %d, quota %d, key quota %d",
			h.StrangerRate, h.StrangerBurst, h.StrangerStreams, h.StrangerQuota, h.StrangerKeyQuota)
	}
	h = parsed(t, "--stranger-rate", "2.5", "--stranger-burst", "7", "--stranger-streams", "3",
		"--stranger-quota", "1MiB", "--stranger-key-quota", "1000")
	if h.StrangerRate != 2.5 || h.StrangerBurst != 7 || h.StrangerStreams != 3 || h.StrangerQuota != 1<<20 || h.StrangerKeyQuota != 1000 {
		t.Errorf("set: %+v", h)
	}
	for _, off := range []string{"0", "off"} {
		h = parsed(t, "--stranger-rate", off, "--stranger-quota", off, "--stranger-key-quota", off)
		if h.StrangerRate != host.NoLimit || h.StrangerQuota != host.NoLimit || h.StrangerKeyQuota != host.NoLimit {
			t.Errorf("%s: rate %v, quota %d, key quota %d", off, h.StrangerRate, h.StrangerQuota, h.StrangerKeyQuota)
		}
	}
	t.Setenv(envStrangerKeyQuota, "off")
	if h = parsed(t); h.StrangerKeyQuota != host.NoLimit {
		t.Errorf("%s=off: key quota %d", envStrangerKeyQuota, h.StrangerKeyQuota)
	}
}

func TestMemoryLimit(t *testing.T) {
	// Frames of 1 MiB + 128 KiB: the floor, whatever the message limit.
	if got := memoryLimit(); got != 40<<20 {
		t.Errorf("memoryLimit() = %d, want 40 MiB", got)
	}
}

// TestHealth checks --health against no host, then a running one, and
// that it starts nothing itself.
func TestHealth(t *testing.T) {
	isolate(t)
	home, _ := newHome(t, "")
	r := runHostd(t, "--health")
	if r.code != 1 || !strings.Contains(r.stderr, "unhealthy") || r.stdout != "" {
		t.Errorf("no host: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--health made a store: %v", err)
	}
	d := start(t, "--listen", "127.0.0.1:0")
	r = runHostd(t, "--health")
	if r.code != 0 || r.stdout != "smvs-hostd: healthy: the host on "+d.socket+" answers\n" {
		t.Errorf("a running host: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
