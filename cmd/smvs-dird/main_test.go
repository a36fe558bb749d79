package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/cli/clitest"
	"smvs/lib/directory/pgtest"
	"smvs/lib/identity"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// isolate gives the test an environment of its own: no SMVS_DIRD_*
// setting from the caller, and a HOME and XDG_DATA_HOME in a temporary
// directory, which it returns.
func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "SMVS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, "data"))
	return home
}

// daemon is a smvs-dird running in-process.
type daemon struct {
	url, pin string
	stop     func() int // cancels its context, as SIGTERM does, and returns the exit status
	stderr   *clitest.Buffer
}

// startLine is what smvs-dird prints on standard output once it listens.
var startLine = regexp.MustCompile(`^smvs-dird: listening on (https?://\S+)(?: pin (sha256//\S+))?\n$`)

// start runs smvs-dird with args and waits for its start line.
func start(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	d := &daemon{stderr: &clitest.Buffer{}}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"smvs-dird"}, args...), stdoutW, d.stderr)
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
				t.Fatalf("smvs-dird did not stop; stderr:\n%s", d.stderr)
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
	d.url, d.pin = m[1], m[2]
	return d
}

// client returns an HTTP client that trusts exactly pin, or with no pin a
// plain one.
func client(t *testing.T, pin string) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if pin != "" {
		cfg, err := tlspin.ClientConfig(pin)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig = cfg
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// signedRecord returns a new identity's signed record for name, and its key.
func signedRecord(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	now := time.Now()
	id, err := identity.Generate(identity.KindIdentity, now)
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	kem, err := id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := wire.SignRecord(id.Signer(), &wire.Record{
		Name: name, Identity: id.Public().Bytes(), KEM: kem.Public(), Seq: 1,
		Issued: now.UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return signed, id.Public().String()
}

func publish(t *testing.T, c *http.Client, base string, signed []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"record": base64.StdEncoding.EncodeToString(signed)})
	resp, err := c.Post(base+"/v1/records", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("publish: %s %s", resp.Status, b)
	}
}

func TestServeTLS(t *testing.T) {
	home := isolate(t)
	data := filepath.Join(home, "data", "smvs", "dird") // the default
	d := start(t, "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(d.url, "https://127.0.0.1:") || strings.HasSuffix(d.url, ":0") || d.pin == "" {
		t.Fatalf("url %q, pin %q", d.url, d.pin)
	}
	c := client(t, d.pin)
	if status, body := get(t, c, d.url+"/healthz"); status != 200 || body != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	signed, key := signedRecord(t, "alice")
	publish(t, c, d.url, signed)
	want := fmt.Sprintf("{\"record\":%q}\n", base64.StdEncoding.EncodeToString(signed))
	if status, body := get(t, c, d.url+"/v1/records/key/"+key); status != 200 || body != want {
		t.Errorf("look-up: %d %q", status, body)
	}

	for path, mode := range map[string]os.FileMode{data: 0o700, filepath.Join(data, tlspin.File): 0o600} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %04o", path, info, mode)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "pin")); err != nil || string(b) != d.pin+"\n" {
		t.Errorf("pin file %q, %v; want %q", b, err, d.pin)
	}

	if code := d.stop(); code != 0 {
		t.Fatalf("stop: status %d, stderr:\n%s", code, d.stderr)
	}
	log := d.stderr.String()
	for _, want := range []string{"msg=started", "msg=publish outcome=stored", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	for _, private := range []string{"alice", key, "/v1/records"} {
		if strings.Contains(log, private) {
			t.Errorf("the log holds %q:\n%s", private, log)
		}
	}

	// A restart keeps the key and the records.
	again := start(t, "--listen", "127.0.0.1:0", "--data", data)
	if again.pin != d.pin {
		t.Errorf("the pin changed on restart: %s, was %s", again.pin, d.pin)
	}
	if status, _ := get(t, client(t, again.pin), again.url+"/v1/records/name/Alice"); status != 200 {
		t.Errorf("look-up after the restart: %d", status)
	}
}

func TestWrongPin(t *testing.T) {
	isolate(t)
	d := start(t, "--listen", "127.0.0.1:0")
	certPEM, keyPEM, err := tlspin.NewSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	other, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client(t, tlspin.Pin(other.Leaf)).Get(d.url + "/healthz")
	if !errors.Is(err, tlspin.ErrMismatch) {
		t.Errorf("a client pinning another key: %v, want ErrMismatch", err)
	}
}

func TestPlainHTTP(t *testing.T) {
	home := isolate(t)
	d := start(t, "--listen", "127.0.0.1:0", "--plain-http", "--access-log")
	if !strings.HasPrefix(d.url, "http://127.0.0.1:") || d.pin != "" {
		t.Fatalf("url %q, pin %q", d.url, d.pin)
	}
	if status, _ := get(t, client(t, ""), d.url+"/v1/records/name/bob"); status != 404 {
		t.Errorf("look-up: %d", status)
	}
	for _, name := range []string{tlspin.File, "pin"} {
		if _, err := os.Stat(filepath.Join(home, "data", "smvs", "dird", name)); err == nil {
			t.Errorf("with plain HTTP, %s was made", name)
		}
	}
	d.stop()
	if !strings.Contains(d.stderr.String(), "msg=access client=127.0.0.1 method=GET path=/v1/records/name/bob status=404") {
		t.Errorf("no access log line:\n%s", d.stderr)
	}
}

func TestGivenCertificate(t *testing.T) {
	home := isolate(t)
	certPEM, keyPEM, err := tlspin.NewSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(home, "cert.pem"), filepath.Join(home, "key.pem")
	os.WriteFile(certFile, certPEM, 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envTLSKey, keyFile) // environment twins work too
	d := start(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile)
	if d.pin != tlspin.Pin(pair.Leaf) {
		t.Errorf("pin %s, want the given certificate's %s", d.pin, tlspin.Pin(pair.Leaf))
	}
	if status, _ := get(t, client(t, d.pin), d.url+"/healthz"); status != 200 {
		t.Errorf("/healthz: %d", status)
	}
	if _, err := os.Stat(filepath.Join(home, "data", "smvs", "dird", tlspin.File)); err == nil {
		t.Error("made a self-signed certificate though one was given")
	}
}

func TestPostgres(t *testing.T) {
	home := isolate(t)
	u, err := url.Parse(pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test server trusts every local connection: any password does.
	u.User = url.UserPassword(u.User.Username(), "hunter2secret")
	t.Setenv(envDB, u.String())
	d := start(t, "--listen", "127.0.0.1:0", "--data", filepath.Join(home, "replica1"))
	c := client(t, d.pin)
	signed, _ := signedRecord(t, "carol")
	publish(t, c, d.url, signed)

	// A second replica over the same database serves what the first stored.
	other := start(t, "--listen", "127.0.0.1:0", "--data", filepath.Join(home, "replica2"))
	if status, _ := get(t, client(t, other.pin), other.url+"/v1/records/name/carol"); status != 200 {
		t.Errorf("look-up on the second replica: %d", status)
	}
	for _, d := range []*daemon{d, other} {
		if code := d.stop(); code != 0 {
			t.Errorf("stop: status %d, stderr:\n%s", code, d.stderr)
		}
		if log := d.stderr.String(); strings.Contains(log, "hunter2secret") || !strings.Contains(log, "db=postgres://127.0.0.1:") {
			t.Errorf("the log should name the database without its password:\n%s", log)
		}
	}
}

// result is what one run of smvs-dird that exits by itself did.
type result struct {
	code           int
	stdout, stderr string
}

func runDird(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, append([]string{"smvs-dird"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsageErrors(t *testing.T) {
	home := isolate(t)
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--listen", "7440"}, `invalid --listen address "7440"`},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--plain-http", "--tls-cert", "c", "--tls-key", "k"}, "--plain-http can't be used with --tls-cert"},
		{[]string{"--rate", "-1"}, "invalid --rate -1"},
		{[]string{"--rate", "fast"}, `invalid value "fast" for flag --rate`},
		{[]string{"--burst", "0"}, "invalid --burst 0"},
		{[]string{"--max-lifetime", "0d"}, `invalid --max-lifetime: "0d" is not a positive duration`},
		{[]string{"--max-lifetime", "soon"}, `invalid --max-lifetime: "soon"`},
		{[]string{"--max-lifetime", "-5h"}, `invalid --max-lifetime: "-5h"`},
		{[]string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{[]string{"--client-ip-header", "X-Forwarded-For: x"}, "invalid --client-ip-header"},
		{[]string{"--db", "mysql://u:secretpw@db/x"}, `invalid --db: dirstore: database must be`},
	} {
		r := runDird(t, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "smvs-dird: error: "+tt.message) ||
			!strings.HasSuffix(r.stderr, "\nsmvs-dird: hint: see 'smvs-dird --help'\n") || r.stdout != "" {
			t.Errorf("%q: status %d, stdout %q, stderr:\n%s\nwant status 2, %q and a hint to see --help",
				tt.args, r.code, r.stdout, r.stderr, tt.message)
		}
		if strings.Contains(r.stderr, "secretpw") {
			t.Errorf("%q: the password is in the error:\n%s", tt.args, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "data")); err == nil {
		t.Error("usage errors made the data directory")
	}
}

func TestFailures(t *testing.T) {
	home := isolate(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notDir := filepath.Join(home, "file")
	os.WriteFile(notDir, nil, 0o600)
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"--listen", busy.Addr().String()}, "can't listen on " + busy.Addr().String() + ": "},
		{[]string{"--listen", "127.0.0.1:0", "--data", notDir}, "opening the store: "},
		{[]string{"--listen", "127.0.0.1:0", "--data", notDir, "--db", "sqlite:" + filepath.Join(home, "x.db")}, "making the data directory: "},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(home, "none.pem"), "--tls-key", filepath.Join(home, "none.pem")},
			"loading the TLS certificate: tlspin: open " + filepath.Join(home, "none.pem")},
		{[]string{"--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(home, "missing", "x.db")}, "opening the store: "},
	} {
		r := runDird(t, tt.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "smvs-dird: error: "+tt.message) || r.stdout != "" {
			t.Errorf("%q: status %d, stdout %q, stderr:\n%s\nwant status 1 and %q", tt.args, r.code, r.stdout, r.stderr, tt.message)
		}
	}

	// A corrupt kept certificate is not replaced: that would change the pin.
	data := filepath.Join(home, "corrupt")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, tlspin.File), []byte("junk"), 0o600)
	r := runDird(t, "--listen", "127.0.0.1:0", "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "smvs-dird: hint: remove "+filepath.Join(data, tlspin.File)) {
		t.Errorf("corrupt certificate: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestPasswordWarning(t *testing.T) {
	isolate(t)
	// The warning comes before the store is opened, which then fails.
	r := runDird(t, "--listen", "127.0.0.1:0", "--db", "postgres://dird:s3cret@127.0.0.1:1/x?connect_timeout=1")
	if !strings.Contains(r.stderr, "smvs-dird: warning: the --db URL holds a password") || strings.Contains(r.stderr, "s3cret") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	isolate(t)
	r := runDird(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--plain-http") || !strings.Contains(r.stdout, "[$SMVS_DIRD_LISTEN]") || r.stderr != "" {
		t.Errorf("--help: status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runDird(t, "--version")
	if r.code != 0 || !regexp.MustCompile(`^smvs-dird \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: status %d, stdout %q", r.code, r.stdout)
	}
}

// TestManPage checks that man/smvs-dird.8 documents every flag and its
// environment twin, and no flag that does not exist, so the manual can't
// drift from --help.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:    "smvs-dird.8",
		App:     newApp(context.Background()),
		FlagEnv: true,
	})
}

// TestHealth checks --health over HTTPS (pinned to the pin file) and
// plain HTTP, and against no directory or a wrong pin.
func TestHealth(t *testing.T) {
	home := isolate(t)
	d := start(t, "--listen", "127.0.0.1:0")
	listen := strings.TrimPrefix(d.url, "https://")
	r := runDird(t, "--health", "--listen", listen)
	if r.code != 0 || r.stdout != "smvs-dird: healthy: "+d.url+"/healthz answers\n" {
		t.Errorf("a running directory: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// 0.0.0.0 is asked on 127.0.0.1.
	_, port, _ := net.SplitHostPort(listen)
	if r := runDird(t, "--health", "--listen", "0.0.0.0:"+port); r.code != 0 {
		t.Errorf("--listen 0.0.0.0: status %d, stderr %q", r.code, r.stderr)
	}
	// Another certificate than the pin file's is not this directory.
	pinFile := filepath.Join(home, "data", "smvs", "dird", "pin")
	if err := os.WriteFile(pinFile, []byte("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runDird(t, "--health", "--listen", listen); r.code != 1 || !strings.Contains(r.stderr, "unhealthy") {
		t.Errorf("a wrong pin: status %d, stderr %q", r.code, r.stderr)
	}
	d.stop()
	if r := runDird(t, "--health", "--listen", listen); r.code != 1 || !strings.Contains(r.stderr, "unhealthy") {
		t.Errorf("no directory: status %d, stderr %q", r.code, r.stderr)
	}

	p := start(t, "--listen", "127.0.0.1:0", "--plain-http")
	if r := runDird(t, "--health", "--plain-http", "--listen", strings.TrimPrefix(p.url, "http://")); r.code != 0 {
		t.Errorf("plain HTTP: status %d, stderr %q", r.code, r.stderr)
	}
}
