package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

var bobKey = bytes.Repeat([]byte{0xb0}, wire.KeySize)

// result is what one run of smvs-send did.
type result struct {
	code           int
	stdout, stderr string
}

// newHost starts a fake host that knows bob, with SMVS_SOCKET pointing at
// it and nothing else from the environment.
func newHost(t *testing.T) *hostapitest.Host {
	t.Helper()
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	t.Setenv(cli.SocketEnv, h.Path())
	t.Setenv(cli.HomeEnv, t.TempDir())
	return h
}

// runSend runs smvs-send in-process with stdin.
func runSend(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"smvs-send"}, args...), stdin, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// ok runs smvs-send and fails the test unless it succeeds silently on
// standard error.
func ok(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runSend(t, strings.NewReader(stdin), args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%q: status %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs smvs-send and fails the test unless it exits with code and
// its standard error has every one of want.
func fails(t *testing.T, code int, stdin string, want []string, args ...string) result {
	t.Helper()
	r := runSend(t, strings.NewReader(stdin), args...)
	if r.code != code {
		t.Errorf("%q: status %d, want %d; stderr:\n%s", args, r.code, code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%q: stderr lacks %q:\n%s", args, w, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("%q: stdout %q on failure", args, r.stdout)
	}
	return r
}

// last returns the last message submitted.
func last(t *testing.T, h *hostapitest.Host) hostapi.Submit {
	t.Helper()
	subs := h.Submitted()
	if len(subs) == 0 {
		t.Fatal("nothing was submitted")
	}
	return subs[len(subs)-1].Submit
}

func TestSendText(t *testing.T) {
	h := newHost(t)
	if r := ok(t, "hi there\n", "bob"); r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	s := last(t, h)
	if s.To != "bob" || s.Kind != wire.KindText || string(s.Body) != "hi there" || s.ContentType != "" || s.FileName != "" {
		t.Errorf("submitted %+v", s)
	}
	// One message, however many lines; only one final newline goes.
	ok(t, "line 1\nline 2\n\n", "bob")
	if s := last(t, h); string(s.Body) != "line 1\nline 2\n" {
		t.Errorf("body %q", s.Body)
	}
	// By key.
	key, _ := identity.NewPublicKey(identity.KindIdentity, bobKey)
	ok(t, "by key", key.String())
	if s := last(t, h); s.To != key.String() {
		t.Errorf("to %q", s.To)
	}
	fails(t, 1, "", []string{"error: nothing to send: standard input is empty"}, "bob")
	fails(t, 1, "\n", []string{"error: nothing to send"}, "bob")
}

func TestSendBinary(t *testing.T) {
	h := newHost(t)
	body := []byte("\x00\xff\xfe binary\n")
	ok(t, string(body), "bob")
	s := last(t, h)
	if s.Kind != wire.KindFile || s.ContentType != octetStream || !bytes.Equal(s.Body, body) {
		t.Errorf("submitted %+v", s)
	}

	// Standard input redirected from a file, large enough for a progress
	// bar (which stays off: standard error is no terminal).
	big := bytes.Repeat([]byte{0xff, 0}, 3<<20)
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r := runSend(t, f, "bob"); r.code != 0 || r.stderr != "" {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	if s := last(t, h); !bytes.Equal(s.Body, big) {
		t.Errorf("body of %d bytes, want %d", len(s.Body), len(big))
	}
}

func TestSendFile(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pdf := write("report.pdf", []byte("%PDF-1.7 ..."))
	png := write("picture", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"))
	txt := write("notes", []byte("plain text\n"))
	empty := write("empty.bin", nil)

	for _, tt := range []struct {
		args            []string
		stdin           string
		name, typ, body string
		wantKind        wire.Kind
	}{
		{[]string{"--file", pdf}, "", "report.pdf", "application/pdf", "%PDF-1.7 ...", wire.KindFile},
		{[]string{"--file", pdf, "--name", "q3.pdf"}, "", "q3.pdf", "application/pdf", "%PDF-1.7 ...", wire.KindFile},
		{[]string{"--file", png}, "", "picture", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", wire.KindFile},
		{[]string{"--file", txt, "--type", "text/markdown"}, "", "notes", "text/markdown", "plain text\n", wire.KindFile},
		{[]string{"--file", empty, "--type", "application/x-empty"}, "", "empty.bin", "application/x-empty", "", wire.KindFile},
		// Standard input as a file: --name or --type says so.
		{[]string{"--name", "data.pdf"}, "%PDF", "data.pdf", "application/pdf", "%PDF", wire.KindFile},
		{[]string{"--type", "text/csv"}, "a,b\n", "", "text/csv", "a,b\n", wire.KindFile},
	} {
		ok(t, tt.stdin, append(tt.args, "bob")...)
		s := last(t, h)
		if s.Kind != tt.wantKind || s.FileName != tt.name || s.ContentType != tt.typ || string(s.Body) != tt.body {
			t.Errorf("%q: submitted kind %v, name %q, type %q, body %q", tt.args, s.Kind, s.FileName, s.ContentType, s.Body)
		}
	}
	fails(t, 1, "", []string{"error: open " + filepath.Join(dir, "missing")}, "--file", filepath.Join(dir, "missing"), "bob")
	fails(t, 1, "", []string{"is not a regular file"}, "--file", dir, "bob")
}

// pipe is standard input that a test writes to as the command reads it.
func pipe(t *testing.T) (io.Reader, *io.PipeWriter) {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r, w
}

func TestSendLines(t *testing.T) {
	h := newHost(t)
	stdin, w := pipe(t)
	done := make(chan result)
	go func() { done <- runSend(t, stdin, "-l", "--json", "bob") }()

	// Each line is sent when its newline arrives, before standard input ends.
	for i, line := range []string{"one\n", "\n", "two\r\n", "\xffthree"} {
		if _, err := io.WriteString(w, line); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if subs := h.WaitSubmitted(1, 5*time.Second); len(subs) != 1 {
				t.Fatalf("the first line was not sent as it arrived: %d submitted", len(subs))
			}
		}
	}
	w.Close()
	r := <-done
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	subs := h.Submitted()
	var bodies []string
	for _, s := range subs {
		bodies = append(bodies, string(s.Submit.Body))
		if s.Submit.Kind != wire.KindText || s.Conn != subs[0].Conn {
			t.Errorf("submitted %+v on connection %d", s.Submit, s.Conn)
		}
	}
	if want := []string{"one", "two", "\uFFFDthree"}; strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("bodies %q, want %q", bodies, want)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Errorf("--json printed:\n%s", r.stdout)
	}

	// A refusal stops at that line.
	h.Refuse("bob", &hostapi.Error{Code: hostapi.ErrQuota, Message: "the host's disk quota is full"})
	fails(t, exitTooLarge, "a\nb\n", []string{"error: the host's disk quota is full"}, "-l", "bob")
	if n := len(h.Submitted()); n != 3 {
		t.Errorf("%d submitted after the refusal", n)
	}
}

func TestJSON(t *testing.T) {
	h := newHost(t)
	r := ok(t, "hi", "--json", "bob")
	var out resultJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("--json printed %q: %v", r.stdout, err)
	}
	it := h.Submitted()[0].Item
	key, _ := identity.NewPublicKey(identity.KindIdentity, bobKey)
	if out.Seq != it.Seq || out.ID != hex.EncodeToString(it.ID) || out.Recipient != key.String() || out.Name != "bob" {
		t.Errorf("--json: %+v", out)
	}
}

func TestExpires(t *testing.T) {
	h := newHost(t)
	before := time.Now()
	ok(t, "gone soon", "--expires", "2d", "bob")
	want := before.Add(48 * time.Hour).UnixMilli()
	if got := last(t, h).Expires; got < want || got > want+60_000 {
		t.Errorf("expires %d, want about %d", got, want)
	}
	ok(t, "gone sooner", "--expires", "90m", "bob")
	if got := last(t, h).Expires; got > want-40*3600_000 {
		t.Errorf("--expires 90m: expires %d", got)
	}
}

func TestWait(t *testing.T) {
	h := newHost(t)
	h.DeliverAfter(50 * time.Millisecond)
	if r := ok(t, "hi", "--wait", "bob"); r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	ok(t, "a\nb\n", "-l", "--wait", "bob")

	h.DeliverAfter(0)
	fails(t, exitNotDelivered, "hi", []string{"is queued, not delivered within 200ms", "hint: the host keeps trying"},
		"--timeout", "200ms", "bob")

	// Stored by the peer's host, but no receipt. The status must change
	// within the timeout: 300 ms was too short for a loaded machine under
	// -race, which then saw the message still queued.
	// Counted before the send starts, which may submit before the count.
	before := len(h.Submitted())
	done := make(chan result)
	go func() { done <- runSend(t, strings.NewReader("hi"), "--wait", "--timeout", "2s", "bob") }()
	subs := h.WaitSubmitted(before+1, 5*time.Second)
	h.SetStatus(subs[len(subs)-1].Item.ID, delivery.Sent)
	if r := <-done; r.code != exitNotDelivered || !strings.Contains(r.stderr, "no receipt came within 2s") {
		t.Errorf("sent, no receipt: status %d, stderr:\n%s", r.code, r.stderr)
	}

	go func() { done <- runSend(t, strings.NewReader("hi"), "--wait", "bob") }()
	subs = h.WaitSubmitted(len(subs)+1, 5*time.Second)
	h.SetStatus(subs[len(subs)-1].Item.ID, delivery.Failed)
	if r := <-done; r.code != 1 || !strings.Contains(r.stderr, "failed: the host gave up") {
		t.Errorf("failed: status %d, stderr:\n%s", r.code, r.stderr)
	}

	// Refused by the peer's policy: not a host that is down.
	go func() { done <- runSend(t, strings.NewReader("hi"), "--wait", "bob") }()
	subs = h.WaitSubmitted(len(subs)+1, 5*time.Second)
	h.SetStatus(subs[len(subs)-1].Item.ID, delivery.Refused)
	r := <-done
	if r.code != 1 || !strings.Contains(r.stderr, "bob's host refused message") ||
		!strings.Contains(r.stderr, "their policy does not take your messages") || strings.Contains(r.stderr, "host is up") {
		t.Errorf("refused: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestRefused(t *testing.T) {
	h := newHost(t)
	// One hint: the host's if it gave one, else smvs-send's.
	only := func(r result, want string) {
		t.Helper()
		if hints := regexp.MustCompile(`(?m)^smvs-send: hint: .*$`).FindAllString(r.stderr, -1); len(hints) != 1 || hints[0] != want {
			t.Errorf("hints:\n%s\nwant only %q", strings.Join(hints, "\n"), want)
		}
	}
	r := fails(t, exitUnknownRecipient, "hi", []string{"error: unknown recipient carol"}, "carol")
	only(r, "smvs-send: hint: check the name, or add the contact with their key: smvs-register add carol smvs1...")
	h.Refuse("erin", &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: `unknown recipient "erin"`,
		Hint: "check the name, or add the contact with: smvs-register add NAME smvs1..."})
	r = fails(t, exitUnknownRecipient, "hi", []string{`error: unknown recipient "erin"`}, "erin")
	only(r, "smvs-send: hint: check the name, or add the contact with: smvs-register add NAME smvs1...")
	carol := newIdentity(t).Public().String()
	h.Refuse(carol, &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown recipient " + carol})
	r = fails(t, exitUnknownRecipient, "hi", []string{"error: unknown recipient " + carol}, carol)
	only(r, "smvs-send: hint: to send to a key no directory knows, add it as a contact with its host's address: "+
		"smvs-register add --host ADDR NAME "+carol)

	h.Refuse("dave", &hostapi.Error{Code: hostapi.ErrKeyChanged, Message: `the key of "dave" changed`, Hint: "it may be a new phone, or an attack"})
	r = fails(t, exitKeyChanged, "hi", []string{`error: the key of "dave" changed`}, "dave")
	only(r, "smvs-send: hint: it may be a new phone, or an attack")
	h.Refuse("frank", &hostapi.Error{Code: hostapi.ErrKeyChanged, Message: `the key of "frank" changed`})
	r = fails(t, exitKeyChanged, "hi", nil, "frank")
	only(r, "smvs-send: hint: compare safety numbers with them (smvs-register verify frank), then, if they match, "+
		"accept the new key: smvs-register trust frank smvs1...")
	h.LimitBody(100)
	fails(t, exitTooLarge, strings.Repeat("x", 1000), []string{"error: the message is larger than this host's limit"}, "bob")
	// Streamed, and refused once past the limit.
	fails(t, exitTooLarge, strings.Repeat("x", 4<<20), []string{"error: the message is larger than this host's limit"}, "bob")
	h.Refuse("bob", &hostapi.Error{Code: hostapi.ErrUnavailable, Message: "the host is shutting down"})
	fails(t, 1, "hi", []string{"error: the host is shutting down", "hint: try again in a moment"}, "bob")
}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

// A mistyped key is told to be one, with no hint meant for names, before
// the host is asked.
func TestMistypedKey(t *testing.T) {
	h := newHost(t)
	key := newIdentity(t).Public().String()
	typo := mistype(key)
	for _, tt := range []struct{ to, message string }{
		{typo, "its checksum does not match, so it was probably mistyped"},
		{key[:len(key)-3], "it has 60 characters where a key has 63"},
		{key + key[10:20], "it has 73 characters where a key has 63"},
	} {
		r := fails(t, exitUnknownRecipient, "hi", []string{
			fmt.Sprintf("error: malformed key %q: %s", tt.to, tt.message),
			"hint: copy the key again; its owner prints it with smvs-keygen -y",
		}, tt.to)
		for _, unwanted := range []string{"name", "3 to 32", "smvs-register add"} {
			if strings.Contains(r.stderr, unwanted) {
				t.Errorf("%s: a hint meant for names (%q):\n%s", tt.to, unwanted, r.stderr)
			}
		}
	}
	fails(t, exitUnknownRecipient, "hi", []string{`error: invalid name "al"`, "hint: a recipient is a contact's name"}, "al")
	if n := len(h.Submitted()); n != 0 {
		t.Errorf("the host was asked %d times", n)
	}
	// A short one may be a name: the host is asked, and the hint says what
	// a key would need.
	fails(t, exitUnknownRecipient, "hi", []string{
		"error: unknown recipient " + key[:20],
		"hint: if " + key[:20] + " is meant as a key, it is cut short: a key has 63 characters",
	}, key[:20])
}

// Typed at a terminal, the message is asked for, not waited for in silence.
func TestMessageFromTerminal(t *testing.T) {
	newHost(t)
	defer func(f func(io.Reader) bool) { isTerminalInput = f }(isTerminalInput)
	isTerminalInput = func(io.Reader) bool { return true }
	for _, tt := range []struct {
		args []string
		hint string
	}{
		{[]string{"bob"}, "smvs-send: hint: type the message, then Ctrl-D on a line of its own to send it\n"},
		{[]string{"-l", "bob"}, "smvs-send: hint: each line you type is sent as a message; end with Ctrl-D\n"},
	} {
		r := runSend(t, strings.NewReader("hi\n"), tt.args...)
		if r.code != 0 || r.stderr != tt.hint {
			t.Errorf("%q: status %d, stderr %q, want %q", tt.args, r.code, r.stderr, tt.hint)
		}
	}
	file := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(file, []byte("hi"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, "", "--file", file, "bob")
}

func TestHostNotRunning(t *testing.T) {
	h := newHost(t)
	h.Stop()
	fails(t, exitHostNotRunning, "hi", []string{
		"error: the host is not running: nothing listens on " + h.Path(),
		"hint: start smvs-hostd, or point --socket (or SMVS_SOCKET) at the socket it listens on",
	}, "bob")
	// The socket flag wins over the environment.
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "x.sock")
	fails(t, exitHostNotRunning, "hi", []string{"nothing listens on " + elsewhere}, "--socket", elsewhere, "bob")
}

func TestHostFailsToAnswer(t *testing.T) {
	newHost(t)
	// A host that dies after reading the request, before answering.
	path := filepath.Join(t.TempDir(), "h.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		hostapi.ReadRequest(conn, hostapi.MaxFrame)
		conn.Close()
	}()
	fails(t, 1, "hi", []string{
		"error: the host closed the connection before answering",
		"hint: the host may have stored the message before it failed: see smvs-recv --from bob before sending it again",
	}, "--socket", path, "bob")
}

func TestUsageErrors(t *testing.T) {
	newHost(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "missing argument: want RECIPIENT"},
		{[]string{"bob", "carol"}, `unexpected argument "carol"`},
		{[]string{""}, "the recipient is empty"},
		{[]string{"-l", "--file", "f", "bob"}, "-l sends lines of text"},
		{[]string{"-l", "--type", "text/csv", "bob"}, "-l sends lines of text"},
		{[]string{"--expires", "soon", "bob"}, `invalid --expires "soon"`},
		{[]string{"--expires", "-1h", "bob"}, `invalid --expires "-1h"`},
		{[]string{"--timeout", "0s", "bob"}, `invalid --timeout "0s"`},
		{[]string{"--timeout", "soon", "bob"}, `invalid --timeout "soon"`},
		{[]string{"--name", "a/b", "bob"}, `invalid --name "a/b"`},
		{[]string{"--type", "not a type", "bob"}, `invalid --type "not a type"`},
		{[]string{"--timeout", "1", "bob"}, `invalid --timeout "1": want a positive duration such as 30s, 5m or 1d`},
		{[]string{"--wait=30s", "bob"}, `--wait takes no value, but was given "30s"`},
		{[]string{"--json=yes", "bob"}, `--json takes no value, but was given "yes"`},
	} {
		fails(t, cli.ExitUsage, "hi", []string{"error: " + tt.want, "hint: see 'smvs-send --help'"}, tt.args...)
	}
	fails(t, cli.ExitUsage, "hi", []string{"hint: did you mean --timeout 5m? (how long --wait waits)"}, "--wait=5m", "bob")
}

func TestHelpAndVersion(t *testing.T) {
	r := ok(t, "", "--help")
	for _, want := range []string{"--lines, -l", "--file FILE", "--timeout DURATION", "--socket FILE", "man smvs-send"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := ok(t, "", "--version"); !regexp.MustCompile(`^smvs-send \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: %q", r.stdout)
	}
	if r := ok(t, "", "--completion", "bash"); !strings.Contains(r.stdout, "--expires") {
		t.Errorf("completion lacks --expires:\n%s", r.stdout)
	}
}

// TestManPage checks that man/smvs-send.1 documents every flag, and no
// flag that does not exist, every environment variable and exit status.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-send.1",
		App:       newApp(nil),
		Env:       []string{cli.SocketEnv, cli.HomeEnv, "XDG_RUNTIME_DIR"},
		ExitCodes: []int{0, 1, 2, exitUnknownRecipient, exitKeyChanged, exitHostNotRunning, exitNotDelivered, exitTooLarge, exitNotLinked},
	})
}

// mistype returns key with one character replaced by another, as a slip
// of the finger does.
func mistype(key string) string {
	c := "q"
	if key[20:21] == c {
		c = "p"
	}
	return key[:20] + c + key[21:]
}
