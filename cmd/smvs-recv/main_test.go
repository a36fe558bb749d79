package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

var (
	aliceKey = bytes.Repeat([]byte{0xa1}, wire.KeySize)
	bobKey   = bytes.Repeat([]byte{0xb0}, wire.KeySize)
	carolKey = bytes.Repeat([]byte{0xca}, wire.KeySize)
)

// t0 is when the test messages were sent: 2025-03-01 10:00:00 UTC, which
// the tests print in UTC+1.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	time.Local = time.FixedZone("UTC+1", 3600)
	os.Exit(m.Run())
}

func key(b []byte) string {
	k, err := identity.NewPublicKey(identity.KindIdentity, b)
	if err != nil {
		panic(err)
	}
	return k.String()
}

// newHost starts a fake host, with SMVS_SOCKET pointing at it and an
// SMVS_HOME whose contacts file names alice.
func newHost(t *testing.T) *hostapitest.Host {
	t.Helper()
	h := hostapitest.Start(t)
	h.AddContact("alice", aliceKey)
	h.AddContact("bob", bobKey)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "contacts"), []byte("alice "+key(aliceKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(cli.SocketEnv, h.Path())
	t.Setenv(cli.HomeEnv, home)
	return h
}

// at returns the time d after t0 in Unix ms.
func at(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func incoming(from []byte, sent int64, body string) hostapi.Item {
	return hostapi.Item{Direction: delivery.In, Peer: from, Sent: sent, Stored: sent + 1500, Kind: wire.KindText, Body: []byte(body), Status: delivery.Received}
}

func outgoing(to []byte, name string, sent int64, body string, status delivery.Status) hostapi.Item {
	return hostapi.Item{Direction: delivery.Out, Peer: to, PeerName: name, Sent: sent, Stored: sent, Kind: wire.KindText, Body: []byte(body), Status: status}
}

// result is what one run of smvs-recv did.
type result struct {
	code           int
	stdout, stderr string
}

func recv(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"smvs-recv"}, args...), strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func ok(t *testing.T, args ...string) result {
	t.Helper()
	r := recv(t, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%q: status %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

func fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := recv(t, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Errorf("%q: status %d, stderr:\n%s\nwant status %d and %q", args, r.code, r.stderr, code, want)
	}
	return r
}

func TestHistory(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "hi bob"))
	h.Add(outgoing(bobKey, "bob", at(time.Minute), "hello\nsecond line\ttab \\ \x1b[31mred\u202etxt.exe 👩‍💻", delivery.Delivered))
	h.Add(outgoing(carolKey, "", at(2*time.Minute), "are you there?", delivery.Queued))
	h.Add(hostapi.Item{Direction: delivery.In, Peer: carolKey, PeerName: "carol\n", Sent: at(3 * time.Minute), Kind: wire.KindFile,
		ContentType: "application/pdf", FileName: "report.pdf", Body: make([]byte, 1258291), Status: delivery.Received})
	h.Add(hostapi.Item{Direction: delivery.Out, Peer: aliceKey, Sent: at(4 * time.Minute), Kind: wire.KindFile,
		ContentType: "application/octet-stream", Body: []byte{0xff}, Status: delivery.Failed})

	r := ok(t)
	want := "2025-03-01 11:00:00 < alice: hi bob\n" +
		`2025-03-01 11:01:00 > bob (delivered): hello\nsecond line\ttab \\ \x1b[31mred\u202etxt.exe 👩‍💻` + "\n" +
		"2025-03-01 11:02:00 > " + key(carolKey)[:16] + "… (queued): are you there?\n" +
		`2025-03-01 11:03:00 < carol\n: [file report.pdf, application/pdf, 1.2 MiB, seq 4]` + "\n" +
		"2025-03-01 11:04:00 > alice (failed): [file, application/octet-stream, 1 B, seq 5]\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	// An empty history is no error.
	h2 := hostapitest.Start(t)
	t.Setenv(cli.SocketEnv, h2.Path())
	if r := ok(t); r.stdout != "" {
		t.Errorf("empty history: %q", r.stdout)
	}
}

func TestJSON(t *testing.T) {
	h := newHost(t)
	in := h.Add(incoming(aliceKey, at(0), "<b>hi</b> & bye"))
	file := hostapi.Item{Direction: delivery.Out, Peer: bobKey, PeerName: "bob", Sent: at(time.Minute), Stored: at(time.Minute),
		Kind: wire.KindFile, ContentType: "image/png", FileName: "a.png", Body: []byte("\x89PNG"), Expires: at(time.Hour), Status: delivery.Sent}
	out := h.Add(file)

	for _, flag := range []string{"--json", "--export"} {
		r := ok(t, flag)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s printed:\n%s", flag, r.stdout)
		}
		if !strings.Contains(lines[0], `"text":"<b>hi</b> & bye"`) {
			t.Errorf("HTML characters escaped: %s", lines[0])
		}
		var got [2]map[string]any
		for i, l := range lines {
			if err := json.Unmarshal([]byte(l), &got[i]); err != nil {
				t.Fatal(err)
			}
		}
		wantIn := map[string]any{
			"event": "message", "seq": float64(1), "id": hex.EncodeToString(in.ID), "time": "2025-03-01T10:00:00.000Z",
			"stored": "2025-03-01T10:00:01.500Z", "direction": "in", "peer": key(aliceKey), "peer_name": "alice",
			"kind": "text", "size": float64(15), "status": "received", "text": "<b>hi</b> & bye",
		}
		wantOut := map[string]any{
			"event": "message", "seq": float64(2), "id": hex.EncodeToString(out.ID), "time": "2025-03-01T10:01:00.000Z",
			"stored": "2025-03-01T10:01:00.000Z", "direction": "out", "peer": key(bobKey), "peer_name": "bob",
			"kind": "file", "content_type": "image/png", "file_name": "a.png", "size": float64(4), "status": "sent",
			"expires": "2025-03-01T11:00:00.000Z", "body_base64": base64.StdEncoding.EncodeToString([]byte("\x89PNG")),
		}
		for i, want := range []map[string]any{wantIn, wantOut} {
			if g, w := mustJSON(got[i]), mustJSON(want); g != w {
				t.Errorf("%s line %d:\n%s\nwant:\n%s", flag, i+1, g, w)
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestFromAndSince(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "a1"))
	h.Add(incoming(bobKey, at(time.Hour), "b1"))
	second := h.Add(incoming(aliceKey, at(2*time.Hour), "a2"))
	h.Add(incoming(bobKey, time.Now().Add(-10*time.Minute).UnixMilli(), "b2"))

	texts := func(r result) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
			if l != "" {
				out = append(out, l[strings.LastIndex(l, " ")+1:])
			}
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "alice"}, "a1 a2"},
		{[]string{"--from", "Alice"}, "a1 a2"},
		{[]string{"--from", key(bobKey)}, "b1 b2"},
		{[]string{"--from", "bob"}, "b1 b2"}, // not in the contacts file: the host knows the name
		{[]string{"--since", "3"}, "a2 b2"},
		{[]string{"--since", hex.EncodeToString(second.ID)}, "a2 b2"},
		{[]string{"--since", "2025-03-01T11:00:00Z"}, "b1 a2 b2"},
		{[]string{"--since", "2025-03-01T11:00:00.001Z"}, "a2 b2"},
		{[]string{"--since", "2025-03-01T10:30:00+00:00"}, "b1 a2 b2"},
		{[]string{"--since", "2025-03-01 12:00:00"}, "b1 a2 b2"}, // local time, UTC+1
		{[]string{"--since", "2025-03-01 12:00"}, "b1 a2 b2"},
		{[]string{"--since", "2025-03-01"}, "a1 b1 a2 b2"},
		{[]string{"--since", "1h"}, "b2"},
		{[]string{"--since", "1d", "--from", "alice"}, ""},
		{[]string{"--from", "alice", "--since", "2"}, "a2"},
	} {
		if got := texts(ok(t, tt.args...)); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.args, got, tt.want)
		}
	}
	fails(t, exitNotFound, "error: unknown contact carol", "--from", "carol")
	fails(t, exitNotFound, "error: no such message", "--since", strings.Repeat("ab", 16))
}

func TestRaw(t *testing.T) {
	h := newHost(t)
	text := h.Add(incoming(aliceKey, at(0), "line 1\nline 2\n"))
	body := []byte("%PDF-1.7\x00\xff binary")
	file := h.Add(hostapi.Item{Direction: delivery.In, Peer: aliceKey, Sent: at(time.Minute), Kind: wire.KindFile,
		ContentType: "application/pdf", FileName: "report.pdf", Body: body, Status: delivery.Received})
	h.Add(incoming(aliceKey, at(2*time.Minute), "\x1b]0;owned\x07"))

	if r := ok(t, "--raw", "1"); r.stdout != "line 1\nline 2\n" {
		t.Errorf("--raw 1: %q", r.stdout)
	}
	if r := ok(t, "--raw", hex.EncodeToString(file.ID)); r.stdout != string(body) {
		t.Errorf("--raw ID: %q", r.stdout)
	}
	if r := ok(t, "--raw", strings.ToUpper(hex.EncodeToString(text.ID))); r.stdout != "line 1\nline 2\n" {
		t.Errorf("--raw upper-case ID: %q", r.stdout)
	}
	fails(t, exitNotFound, "error: no message 9\n", "--raw", "9")
	fails(t, exitNotFound, "error: no such message", "--raw", strings.Repeat("00", 16))

	// To a terminal: plain text only.
	defer func(f func(io.Writer) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Writer) bool { return true }
	ok(t, "--raw", "1")
	r := fails(t, 1, "error: refusing to write a file report.pdf, application/pdf, 17 B to the terminal", "--raw", "2")
	if !strings.Contains(r.stderr, "hint: redirect it to a file: smvs-recv --raw 2 > report.pdf") || r.stdout != "" {
		t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}
	if r := fails(t, 1, "error: refusing to write a message with control characters to the terminal", "--raw", "3"); r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
}

// following is a run of smvs-recv --follow in the background.
type following struct {
	stdout, stderr clitest.Buffer
	cancel         func()
	done           chan int
}

func follow(t *testing.T, args ...string) *following {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{cancel: cancel, done: make(chan int, 1)}
	go func() {
		f.done <- run(ctx, append([]string{"smvs-recv", "--follow"}, args...), nil, &f.stdout, &f.stderr)
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// waitFor waits until want is in w.
func waitFor(t *testing.T, what string, w *clitest.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %q:\n%s", what, want, w.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop stops the run, as a signal would, and returns its exit status.
func (f *following) stop(t *testing.T) int {
	f.cancel()
	select {
	case code := <-f.done:
		f.done <- code
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("smvs-recv --follow did not stop")
		return -1
	}
}

func TestFollowReconnects(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "one"))
	f := follow(t)
	waitFor(t, "stdout", &f.stdout, "alice: one\n")

	// Live messages are printed as they come, each line at once.
	h.Add(incoming(bobKey, at(time.Minute), "two"))
	waitFor(t, "stdout", &f.stdout, "bob: two\n")

	// The host restarts; what came meanwhile comes once it is back, and
	// nothing twice.
	h.Stop()
	waitFor(t, "stderr", &f.stderr, "smvs-recv: warning: lost the connection to the host (")
	h.Add(incoming(aliceKey, at(2*time.Minute), "three"))
	time.Sleep(300 * time.Millisecond) // a few tries in vain
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stdout", &f.stdout, "alice: three\n")
	waitFor(t, "stderr", &f.stderr, "smvs-recv: warning: reconnected to the host\n")
	h.Add(incoming(aliceKey, at(3*time.Minute), "four"))
	waitFor(t, "stdout", &f.stdout, "alice: four\n")

	if code := f.stop(t); code != 0 {
		t.Errorf("status %d", code)
	}
	want := "2025-03-01 11:00:00 < alice: one\n2025-03-01 11:01:00 < bob: two\n" +
		"2025-03-01 11:02:00 < alice: three\n2025-03-01 11:03:00 < alice: four\n"
	if got := f.stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if n := strings.Count(f.stderr.String(), "\n"); n != 2 {
		t.Errorf("stderr has %d lines, want one when the host went and one when it came back:\n%s", n, f.stderr.String())
	}
}

func TestFollowWaitsForHost(t *testing.T) {
	h := newHost(t)
	h.Stop()
	h.Add(incoming(aliceKey, at(0), "one"))
	f := follow(t)
	waitFor(t, "stderr", &f.stderr, "smvs-recv: warning: can't reach the host (the host is not running: nothing listens on "+h.Path()+"); waiting for it\n"+
		"smvs-recv: hint: start smvs-hostd")
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stdout", &f.stdout, "alice: one\n")
	waitFor(t, "stderr", &f.stderr, "smvs-recv: warning: connected to the host\n")
}

func TestFollowJSONStatus(t *testing.T) {
	h := newHost(t)
	sent := h.Add(outgoing(bobKey, "bob", at(0), "hi", delivery.Queued))
	f := follow(t, "--json", "--from", "bob")
	waitFor(t, "stdout", &f.stdout, `"text":"hi"`)
	h.SetStatus(sent.ID, delivery.Delivered)
	want := `{"event":"status","seq":1,"id":"` + hex.EncodeToString(sent.ID) + `","direction":"out","peer":"` + key(bobKey) +
		`","peer_name":"bob","status":"delivered"}` + "\n"
	waitFor(t, "stdout", &f.stdout, want)

	// Text output has no status lines.
	f2 := follow(t)
	waitFor(t, "stdout", &f2.stdout, "bob (delivered): hi\n")
	h.SetStatus(sent.ID, delivery.Failed)
	h.Add(incoming(aliceKey, at(time.Minute), "next"))
	waitFor(t, "stdout", &f2.stdout, "alice: next\n")
	if n := strings.Count(f2.stdout.String(), "\n"); n != 2 {
		t.Errorf("text output:\n%s", f2.stdout.String())
	}
}

// dyingWriter is standard output that ends after n lines, as if the
// command were killed then; at each line it checks that the cursor file
// holds the seq of the line before.
type dyingWriter struct {
	t      *testing.T
	n      int
	cursor string
	lines  []string
}

func (w *dyingWriter) Write(p []byte) (int, error) {
	if len(w.lines) == w.n {
		return 0, errors.New("killed")
	}
	seq, err := readCursor(w.cursor)
	if err != nil {
		w.t.Error(err)
	}
	if want := len(w.lines); seq != uint64(want) {
		w.t.Errorf("writing line %d with the cursor at %d", want+1, seq)
	}
	if bytes.Count(p, []byte("\n")) != 1 {
		w.t.Errorf("a write of several lines, or of part of one: %q", p)
	}
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

func TestCursor(t *testing.T) {
	h := newHost(t)
	for i := range 5 {
		h.Add(incoming(aliceKey, at(time.Duration(i)*time.Minute), string(rune('a'+i))))
	}
	cursor := filepath.Join(t.TempDir(), "cursor")

	// Killed after two lines: the cursor says 2.
	w := &dyingWriter{t: t, n: 2, cursor: cursor}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"smvs-recv", "--cursor", cursor}, nil, w, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "error: writing to standard output: killed") {
		t.Errorf("killed: status %d, stderr:\n%s", code, stderr.String())
	}
	if seq, _ := readCursor(cursor); seq != 2 {
		t.Fatalf("cursor %d after two lines", seq)
	}

	// Resumed with --follow: from the third, and on.
	f := follow(t, "--cursor", cursor)
	waitFor(t, "stdout", &f.stdout, "alice: e\n")
	if got := f.stdout.String(); !strings.HasPrefix(got, "2025-03-01 11:02:00 < alice: c\n") || strings.Count(got, "\n") != 3 {
		t.Errorf("resumed:\n%s", got)
	}
	h.Add(incoming(aliceKey, at(10*time.Minute), "f"))
	waitFor(t, "stdout", &f.stdout, "alice: f\n")
	f.stop(t)
	data, err := os.ReadFile(cursor)
	if err != nil || string(data) != "6\n" {
		t.Errorf("cursor file %q, %v", data, err)
	}
	if r := ok(t, "--cursor", cursor); r.stdout != "" {
		t.Errorf("nothing new, but:\n%s", r.stdout)
	}
	h.Add(incoming(aliceKey, at(11*time.Minute), "g"))
	if r := ok(t, "--cursor", cursor, "--json"); !strings.Contains(r.stdout, `"text":"g"`) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("after g:\n%s", r.stdout)
	}
	// No temporary file left.
	if entries, _ := os.ReadDir(filepath.Dir(cursor)); len(entries) != 1 {
		t.Errorf("files beside the cursor: %v", entries)
	}

	if err := os.WriteFile(cursor, []byte("seven\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, 1, `holds "seven", not a sequence number`, "--cursor", cursor)
}

func TestHostNotRunning(t *testing.T) {
	h := newHost(t)
	h.Stop()
	for _, args := range [][]string{nil, {"--raw", "1"}, {"--json"}} {
		r := fails(t, exitHostNotRunning, "error: the host is not running: nothing listens on "+h.Path(), args...)
		if !strings.Contains(r.stderr, "hint: start smvs-hostd") {
			t.Errorf("no hint:\n%s", r.stderr)
		}
	}
}

func TestBadContactsFile(t *testing.T) {
	h := newHost(t)
	h.Add(outgoing(bobKey, "bob", at(0), "hi", delivery.Queued))
	home := os.Getenv(cli.HomeEnv)
	if err := os.WriteFile(filepath.Join(home, "contacts"), []byte("not a contact line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := recv(t)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: not using the contacts file:") || !strings.Contains(r.stdout, "> bob (queued): hi") {
		t.Errorf("status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	newHost(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bob"}, `unexpected argument "bob"`},
		{[]string{"--raw", "1", "--json"}, "--raw writes one message's body: it can't be used with --json"},
		{[]string{"--raw", "1", "--follow"}, "--raw writes one message's body: it can't be used with --follow"},
		{[]string{"--raw", "1", "--from", "bob"}, "--raw writes one message's body: it can't be used with --from"},
		{[]string{"--raw", "0"}, `invalid --raw "0"`},
		{[]string{"--raw", "abc"}, `invalid --raw "abc"`},
		{[]string{"--export", "--follow"}, "--export prints the history: it can't be used with --follow"},
		{[]string{"--since", "yesterday"}, `invalid --since "yesterday"`},
		{[]string{"--since", "-1h"}, `invalid --since "-1h"`},
		{[]string{"--from", "x"}, "invalid --from: invalid name"},
		{[]string{"--from", "smvs1bogus"}, "invalid --from:"},
	} {
		r := fails(t, cli.ExitUsage, "error: "+tt.want, tt.args...)
		if !strings.Contains(r.stderr, "hint: see 'smvs-recv --help'") {
			t.Errorf("%q: no hint:\n%s", tt.args, r.stderr)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]options{
		"42":                        {after: 41},
		"1":                         {after: 0},
		strings.Repeat("0f", 16):    {sinceID: bytes.Repeat([]byte{0x0f}, 16)},
		"2025-03-01T10:00:00Z":      {since: t0.UnixMilli()},
		"2025-03-01T10:00:00+02:00": {since: t0.Add(-2 * time.Hour).UnixMilli()},
		"2025-03-01 11:00:00":       {since: t0.UnixMilli()},
		"2025-03-01T11:00:00":       {since: t0.UnixMilli()},
		"90m":                       {since: now.Add(-90 * time.Minute).UnixMilli()},
		"2d":                        {since: now.Add(-48 * time.Hour).UnixMilli()},
	} {
		var o options
		if err := o.parseSince(in, now); err != nil || o.after != want.after || o.since != want.since || !bytes.Equal(o.sinceID, want.sinceID) {
			t.Errorf("parseSince(%q): %+v, %v; want %+v", in, o, err, want)
		}
	}
	for _, in := range []string{"0", "", "soon", "-5m", "0d", strings.Repeat("9", 21), "2026-13-01"} {
		var o options
		if err := o.parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted: %+v", in, o)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := ok(t, "--help")
	for _, want := range []string{"--follow, -f", "--raw ID", "--cursor FILE", "--since WHEN", "man smvs-recv"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := ok(t, "--version"); !regexp.MustCompile(`^smvs-recv \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: %q", r.stdout)
	}
}

// TestManPage checks that man/smvs-recv.1 documents every flag, and no
// flag that does not exist, every environment variable and exit status.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-recv.1",
		App:       newApp(context.Background(), nil),
		Env:       []string{cli.SocketEnv, cli.HomeEnv, "XDG_RUNTIME_DIR"},
		ExitCodes: []int{0, 1, 2, exitNotFound, exitHostNotRunning, exitNotLinked},
	})
}

func TestFollowDeleted(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "one"))
	h.Add(incoming(aliceKey, at(time.Minute), "two"))
	j := follow(t, "--json")
	waitFor(t, "stdout", &j.stdout, `"text":"two"`)
	txt := follow(t) // once j has parsed its flags: urfave's --help flag is shared
	waitFor(t, "stdout", &txt.stdout, "alice: two\n")
	c, err := hostapi.Dial(context.Background(), h.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Delete(context.Background(), &hostapi.Delete{Seqs: []uint64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stdout", &j.stdout, `{"event":"deleted","seq":1}`+"\n"+`{"event":"deleted","seq":2}`+"\n")
	h.Add(incoming(aliceKey, at(2*time.Minute), "three"))
	waitFor(t, "stdout", &txt.stdout, "alice: three\n")
	if got := txt.stdout.String(); strings.Count(got, "\n") != 3 {
		t.Errorf("text output:\n%s", got)
	}
}

func TestWarnings(t *testing.T) {
	h := newHost(t)
	it := incoming(aliceKey, at(0), "hi")
	it.Warnings = []delivery.Warning{delivery.WarnGap, delivery.WarnFork}
	h.Add(it)
	it = incoming(carolKey, at(time.Minute), "again")
	it.PeerName = "carol\x1b"
	it.Warnings = []delivery.Warning{delivery.WarnChanged}
	h.Add(it)
	r := recv(t)
	if r.code != 0 || r.stdout != "2025-03-01 11:00:00 < alice: hi\n2025-03-01 11:01:00 < carol\\x1b: again\n" {
		t.Errorf("status %d, stdout:\n%s", r.code, r.stdout)
	}
	want := "smvs-recv: warning: alice: a message before seq 1 never arrived (gap)\n" +
		"smvs-recv: warning: alice: alice sent another message after the same one as seq 1 (fork)\n" +
		"smvs-recv: warning: carol\\x1b: carol\\x1b sent message seq 2 again with other content (changed)\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	r = ok(t, "--json")
	if !strings.Contains(r.stdout, `"warnings":["gap","fork"]`) || !strings.Contains(r.stdout, `"warnings":["changed"]`) {
		t.Errorf("--json:\n%s", r.stdout)
	}

	// A status change carries them too.
	sent := outgoing(bobKey, "bob", at(2*time.Minute), "x", delivery.Queued)
	sent.Warnings = []delivery.Warning{delivery.WarnFork}
	out := h.Add(sent)
	f := follow(t, "--json", "--from", "bob")
	waitFor(t, "stdout", &f.stdout, `"text":"x"`)
	h.SetStatus(out.ID, delivery.Sent)
	waitFor(t, "stdout", &f.stdout, `"status":"sent","warnings":["fork"]}`)
}

func TestExportImport(t *testing.T) {
	h := newHost(t)
	in := incoming(aliceKey, at(0), "hi")
	in.Signed, in.Read, in.Warnings = []byte("signed hi"), true, []delivery.Warning{delivery.WarnGap}
	h.Add(in)
	file := hostapi.Item{Direction: delivery.Out, Peer: bobKey, Sent: at(time.Minute), Stored: at(time.Minute) + 7, Kind: wire.KindFile,
		ContentType: "image/png", FileName: "a.png", Body: []byte("\x89PNG"), Expires: at(time.Hour), Status: delivery.Delivered, Signed: []byte("signed png")}
	h.Add(file)

	if r := ok(t, "--json"); strings.Contains(r.stdout, "signed_base64") {
		t.Errorf("--json has the signed bytes:\n%s", r.stdout)
	}
	export := ok(t, "--export").stdout
	if !strings.Contains(export, `"signed_base64":"`+base64.StdEncoding.EncodeToString([]byte("signed hi"))+`"`) {
		t.Errorf("--export:\n%s", export)
	}
	want := h.Items()

	// Into a new host: the same messages, once however often.
	h2 := newHost(t)
	if r := importFrom(t, export+`{"event":"status","seq":2,"id":"00","direction":"out","peer":"x","status":"sent"}`+"\n"+
		`{"event":"deleted","seq":1}`+"\n\n", "--import"); r.code != 0 || r.stdout != "imported 2 messages (0 already here)\n" {
		t.Errorf("import: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	path := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(path, []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := importFrom(t, "", "--import", "--json", path); r.code != 0 || r.stdout != `{"imported":0,"present":2}`+"\n" {
		t.Errorf("import again: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := h2.Items()
	if len(got) != 2 {
		t.Fatalf("imported %d", len(got))
	}
	for i := range got {
		got[i].Seq, got[i].PeerName, want[i].Seq, want[i].PeerName = 0, "", 0, ""
		if g, w := mustJSON(got[i]), mustJSON(want[i]); g != w {
			t.Errorf("message %d:\n%s\nwant:\n%s", i+1, g, w)
		}
	}

	// In batches of at most MaxImportItems.
	h3 := newHost(t)
	var many strings.Builder
	for i := range hostapi.MaxImportItems + 3 {
		it := incoming(aliceKey, at(time.Duration(i)*time.Second), "m")
		it.ID, it.Signed = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 8), []byte("s")
		b, _ := json.Marshal((&formatter{json: true, contacts: new(contacts.File)}).messageJSON(&it))
		many.Write(b)
		many.WriteByte('\n')
	}
	if r := importFrom(t, many.String(), "--import", "-"); r.code != 0 || r.stdout != "imported 259 messages (0 already here)\n" {
		t.Errorf("many: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if im := h3.Imports(); len(im) != 2 || len(im[0]) != hostapi.MaxImportItems {
		t.Errorf("%d requests", len(im))
	}
}

// TestImportSkipsLargeBodies: a message whose body is over 1 MiB, which
// an import can't restore yet, is skipped, held or not: by its size, or,
// on a line over the limit, without reading it into memory. Every other
// message is imported, and the exit status and error say which were not.
func TestImportSkipsLargeBodies(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "hi"))
	h.Add(incoming(aliceKey, at(time.Minute), "there"))
	h.Add(incoming(aliceKey, at(2*time.Minute), "again"))
	// The longest line of a body an import takes: 1 MiB of text that JSON
	// writes 6 bytes a byte.
	h.Add(incoming(aliceKey, at(3*time.Minute), strings.Repeat("\x01", hostapi.StreamThreshold)))
	lines := strings.Split(strings.TrimSuffix(ok(t, "--export").stdout, "\n"), "\n")
	if len(lines[3]) < 6*hostapi.StreamThreshold {
		t.Fatalf("a line of %d bytes", len(lines[3]))
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "}") + `,"signed_base64":"c2lnbmVk"}`
	}
	// A large body as an export writes it, last; and one whose line is
	// over the limit.
	sized := strings.Replace(lines[1], `"size":5`, fmt.Sprintf(`"size":%d`, hostapi.StreamThreshold+1), 1)
	if sized == lines[1] {
		t.Fatalf("no size in %s", lines[1])
	}
	long := strings.Replace(lines[2], `"text":"again"`, `"body_base64":"`+strings.Repeat("A", maxImportLine)+`"`, 1)
	h2 := newHost(t)
	r := importFrom(t, lines[0]+"\n"+sized+"\n"+long+"\n"+lines[2]+"\n"+lines[3], "--import", "--json")
	if r.code != 1 || r.stdout != `{"imported":3,"present":0,"skipped":2}`+"\n" ||
		!strings.Contains(r.stderr, "error: standard input: the 2 messages of lines 2 and 3 not imported: their bodies are over 1 MiB, which --import can't restore yet") {
		t.Errorf("status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := h2.Items(); len(got) != 3 || string(got[0].Body) != "hi" || string(got[1].Body) != "again" || len(got[2].Body) != hostapi.StreamThreshold {
		t.Errorf("the host holds %d messages", len(got))
	}
}

// readLines reads r through a lineReader of limit, a line over it as
// "(too long)".
func readLines(t *testing.T, r io.Reader, limit int) []string {
	t.Helper()
	l := newLineReader(r, limit)
	var got []string
	for {
		line, err := l.next()
		switch {
		case errors.Is(err, io.EOF):
			return got
		case errors.Is(err, errLineTooLong):
			got = append(got, "(too long)")
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, string(line))
		}
	}
}

// TestLineReader: lines as they come, the last without its newline, and
// one over the limit skipped whole, however it is cut by the buffer.
func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "one\n\n" + long + "\n" + strings.Repeat("y", 100) + "\nlast"
	got := readLines(t, strings.NewReader(in), 100)
	want := []string{"one", "", "(too long)", strings.Repeat("y", 100), "last"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}

func importFrom(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"smvs-recv"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestImportErrors(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "hi"))
	h.Add(incoming(aliceKey, at(time.Minute), "there"))
	lines := strings.Split(strings.TrimSuffix(ok(t, "--export").stdout, "\n"), "\n")
	// The fake host keeps no signed bytes: make some.
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "}") + `,"signed_base64":"c2lnbmVk"}`
	}
	h2 := newHost(t)
	for _, tt := range []struct {
		bad, want string
	}{
		{"not json", "not a JSON object"},
		{`{"event":"live"}`, `event "live" is not a message`},
		{strings.Replace(lines[0], `"direction":"in"`, `"direction":"up"`, 1), `invalid direction "up"`},
		{strings.Replace(lines[0], `"kind":"text"`, `"kind":"call"`, 1), `invalid kind "call"`},
		{strings.Replace(lines[0], `"status":"received"`, `"status":"lost"`, 1), `invalid status "lost"`},
		{strings.Replace(lines[0], `"time":"`, `"time":"x`, 1), `invalid time "x`},
		{strings.Replace(lines[0], `"peer":"smvs1`, `"peer":"smvs2`, 1), `invalid peer "smvs2`},
		{strings.Replace(lines[0], `"c2lnbmVk"`, `"c2lnbmVk!"`, 1), "invalid signed_base64"},
		{strings.Replace(lines[0], `"text":"hi"`, `"text":"hi","body_base64":"aGk="`, 1), "a message has either text or body_base64"},
	} {
		r := importFrom(t, lines[0]+"\n"+tt.bad+"\n"+lines[1]+"\n", "--import")
		if r.code != 1 || !strings.Contains(r.stderr, "smvs-recv: error: standard input, line 2: "+tt.want) ||
			!strings.Contains(r.stderr, "smvs-recv: hint: the messages before line 2 are imported (") || r.stdout != "" {
			t.Errorf("%s: status %d, stdout %q, stderr:\n%s", tt.bad, r.code, r.stdout, r.stderr)
		}
	}
	// What came before the bad line is imported, nothing after it.
	if got := h2.Items(); len(got) != 1 || string(got[0].Body) != "hi" {
		t.Errorf("the host holds %d messages", len(got))
	}

	h2.RefuseOp(hostapi.OpImport, &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only the host's own machine may import"})
	r := importFrom(t, lines[0]+"\n", "--import")
	if r.code != 1 || !strings.Contains(r.stderr, "error: only the host's own machine may import\nsmvs-recv: hint: an import restores a host's store: run smvs-recv --import on the host's own machine") {
		t.Errorf("forbidden: status %d, stderr:\n%s", r.code, r.stderr)
	}
	fails(t, 1, "no such file or directory", "--import", filepath.Join(t.TempDir(), "missing"))

	// The host refuses a request: the lines before it are imported.
	h2.RefuseOp(hostapi.OpImport, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "message 1 of the import: its signed message has other content"})
	r = importFrom(t, "\n"+lines[1]+"\n", "--import")
	if r.code != 1 || !strings.Contains(r.stderr, "error: message 1 of the import: its signed message has other content\n"+
		"smvs-recv: hint: the messages before line 2 are imported (0 messages (0 already here)); none of those from line 2 on\n") {
		t.Errorf("refused: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestFingerprint(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "one"))
	h.Add(incoming(aliceKey, at(time.Minute), "two"))
	h.Add(incoming(bobKey, at(time.Minute), "other"))
	r := recv(t, "--fingerprint", "alice", "--until", "2025-03-01T10:00:30Z")
	want := regexp.MustCompile(`^conversation with alice: 1 message up to 2025-03-01 11:00:30\n(\d{5} ){11}\d{5}\n$`)
	if r.code != 0 || !want.MatchString(r.stdout) ||
		r.stderr != "smvs-recv: hint: alice's smvs-recv --fingerprint YOU --until 2025-03-01T10:00:30Z prints the same digits if you both hold the same messages: compare them over a channel you trust (in person, or a call)\n" {
		t.Errorf("status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = ok(t, "--fingerprint", key(aliceKey), "--json")
	var got fingerprintJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Peer != key(aliceKey) || got.PeerName != "alice" || got.Messages != 2 ||
		len(got.Fingerprint) != 64 || !strings.HasPrefix(got.Until, "20") {
		t.Errorf("--json: %s", r.stdout)
	}
	hash, _ := hex.DecodeString(got.Fingerprint)
	if got.Digits != wire.FingerprintDigits(hash) {
		t.Errorf("digits %q", got.Digits)
	}
	fails(t, exitNotFound, "error: unknown contact carol", "--fingerprint", "carol")
}

func TestNewUsageErrors(t *testing.T) {
	newHost(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--import", "--follow"}, "--import restores an export: it can't be used with --follow"},
		{[]string{"--import", "--raw", "1"}, "--raw and --import can't be used together"},
		{[]string{"--import", "a", "b"}, `unexpected argument "b"`},
		{[]string{"--fingerprint", "alice", "--since", "1h"}, "--fingerprint prints one conversation's fingerprint: it can't be used with --since"},
		{[]string{"--fingerprint", "alice", "--until", "soon"}, `invalid --until "soon"`},
		{[]string{"--fingerprint", "x"}, "invalid --fingerprint: invalid name"},
		{[]string{"--until", "1h"}, "--until goes with --fingerprint"},
		{[]string{"--fingerprint", "alice", "bob"}, `unexpected argument "bob"`},
	} {
		r := fails(t, cli.ExitUsage, "error: "+tt.want, tt.args...)
		if !strings.Contains(r.stderr, "hint: see 'smvs-recv --help'") {
			t.Errorf("%q: no hint:\n%s", tt.args, r.stderr)
		}
	}
}

// The sender names a file; the hint that suggests a file to redirect it to
// hands the user's shell that name only when it is one plain word that
// overwrites nothing.
func TestHintFileName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("taken.txt", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"report.pdf":              "report.pdf",
		"notes-2026_12.tar.gz":    "notes-2026_12.tar.gz",
		"":                        "FILE",
		"notes.txt;touch X":       "FILE",
		"a b.txt":                 "FILE",
		"$(reboot)":               "FILE",
		"`id`.txt":                "FILE",
		".bashrc":                 "FILE",
		"-rf":                     "FILE",
		"../up.txt":               "FILE",
		"dir/file":                "FILE",
		"x>y":                     "FILE",
		"taken.txt":               "FILE",
		"caf\u00e9.txt":           "FILE",
		"r\u202eexe.txt":          "FILE",
		strings.Repeat("a", 65):   "FILE",
		"line\nbreak":             "FILE",
		"star*.txt":               "FILE",
		"quote'd.txt":             "FILE",
		"semi;":                   "FILE",
		"ok+plus,comma@at=eq.txt": "ok+plus,comma@at=eq.txt",
		"UPPER.TXT":               "UPPER.TXT",
	} {
		if got := hintFileName(name); got != want {
			t.Errorf("hintFileName(%q) = %q, want %q", name, got, want)
		}
	}
}

// Text and names a peer chose can't act on a terminal through --json: C1
// controls (U+009B is CSI) and bidirectional overrides come out escaped.
func TestJSONEscapesWhatActsOnATerminal(t *testing.T) {
	h := newHost(t)
	in := incoming(bobKey, at(0), "\u009b2J\u202etxt.exe")
	in.PeerName = "bo\u009bb"
	h.Add(in)
	r := ok(t, "--json")
	if !strings.Contains(r.stdout, `"peer_name":"bo\u009bb"`) || !strings.Contains(r.stdout, `"text":"\u009b2J\u202etxt.exe"`) {
		t.Errorf("--json printed:\n%s", r.stdout)
	}
	for _, c := range r.stdout {
		if c == '\u009b' || c == '\u202e' {
			t.Errorf("raw %U in the output:\n%s", c, r.stdout)
		}
	}
}

// A stranger whose record claims a contact's name is shown by key with
// the claim marked, never as the contact: in the text, as a --json
// claimed_name (never peer_name), in --follow and in --fingerprint.
func TestStrangerClaimingAContactsName(t *testing.T) {
	h := newHost(t)
	h.Add(incoming(aliceKey, at(0), "the real alice"))
	stranger := incoming(carolKey, at(time.Minute), "also alice")
	stranger.ClaimedName = "alice"
	h.Add(stranger)
	hostile := incoming(carolKey, at(2*time.Minute), "again")
	hostile.ClaimedName = "al\x1b]0;owned\x07ice"
	h.Add(hostile)

	prefix := key(carolKey)[:cli.KeyPrefixLen] + "…"
	r := ok(t)
	want := "2025-03-01 11:00:00 < alice: the real alice\n" +
		"2025-03-01 11:01:00 < " + prefix + " (says alice): also alice\n" +
		"2025-03-01 11:02:00 < " + prefix + ` (says al\x1b]0;owned\x07ice): again` + "\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = ok(t, "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json:\n%s", r.stdout)
	}
	for i, want := range []struct{ peer, name, claimed string }{
		{key(aliceKey), "alice", ""}, {key(carolKey), "", "alice"}, {key(carolKey), "", "al\x1b]0;owned\x07ice"},
	} {
		var got messageJSON
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatal(err)
		}
		if got.Peer != want.peer || got.PeerName != want.name || got.ClaimedName != want.claimed {
			t.Errorf("line %d: peer %s, peer_name %q, claimed_name %q; want %s, %q, %q",
				i+1, got.Peer, got.PeerName, got.ClaimedName, want.peer, want.name, want.claimed)
		}
	}
	if strings.Contains(r.stdout, "\x1b") || strings.Contains(r.stdout, "\x07") {
		t.Errorf("--json printed a raw control character:\n%q", r.stdout)
	}

	f := follow(t)
	waitFor(t, "stdout", &f.stdout, "(says al")
	late := incoming(carolKey, at(3*time.Minute), "live")
	late.ClaimedName = "alice"
	h.Add(late)
	waitFor(t, "stdout", &f.stdout, prefix+" (says alice): live\n")

	h.Claim(carolKey, "alice")
	r = recv(t, "--fingerprint", key(carolKey))
	if r.code != 0 || !strings.HasPrefix(r.stdout, "conversation with "+prefix+" (says alice): ") {
		t.Errorf("--fingerprint:\n%s", r.stdout)
	}
	r = ok(t, "--fingerprint", key(carolKey), "--json")
	if !strings.Contains(r.stdout, `"claimed_name":"alice"`) || strings.Contains(r.stdout, "peer_name") {
		t.Errorf("--fingerprint --json:\n%s", r.stdout)
	}
}

// TestRotatedWarning: the message a peer's rotation marked says, once,
// that the peer moved to a new key, and names it.
func TestRotatedWarning(t *testing.T) {
	h := newHost(t)
	it := incoming(aliceKey, at(0), "hi")
	it.Warnings = []delivery.Warning{delivery.WarnRotated}
	h.Add(it)
	r := recv(t)
	want := "smvs-recv: warning: alice: after seq 1, alice moved to a new key " + key(aliceKey) + ", signed by the old one (rotated)\n"
	if r.code != 0 || r.stderr != want {
		t.Errorf("status %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
	if r = ok(t, "--json"); !strings.Contains(r.stdout, `"warnings":["rotated"]`) {
		t.Errorf("--json:\n%s", r.stdout)
	}
}
