package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
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

var (
	aliceKey = bytes.Repeat([]byte{0xa1}, wire.KeySize)
	bobKey   = bytes.Repeat([]byte{0xb0}, wire.KeySize)
)

func key(b []byte) string {
	k, err := identity.NewPublicKey(identity.KindIdentity, b)
	if err != nil {
		panic(err)
	}
	return k.String()
}

// newHost starts a fake host that knows alice and bob, with SMVS_SOCKET
// pointing at it, and a conversation with each: alice's messages are
// seqs 1 (in) and 2 (out), bob's 3 (out), 4 (in) and 5 (out).
func newHost(t *testing.T) *hostapitest.Host {
	t.Helper()
	h := hostapitest.Start(t)
	h.AddContact("alice", aliceKey)
	h.AddContact("bob", bobKey)
	t.Setenv(cli.SocketEnv, h.Path())
	t.Setenv(cli.HomeEnv, t.TempDir())
	now := time.Now()
	for i, m := range []struct {
		peer []byte
		dir  delivery.Direction
		age  time.Duration
	}{{aliceKey, delivery.In, 48 * time.Hour}, {aliceKey, delivery.Out, 47 * time.Hour},
		{bobKey, delivery.Out, 3 * time.Hour}, {bobKey, delivery.In, 2 * time.Hour}, {bobKey, delivery.Out, time.Minute}} {
		sent := now.Add(-m.age).UnixMilli()
		h.Add(hostapi.Item{Direction: m.dir, Peer: m.peer, Sent: sent, Stored: sent, Kind: wire.KindText,
			Body: []byte{byte('a' + i)}, Status: delivery.Delivered})
	}
	return h
}

// seqs returns the seqs of the messages h holds.
func seqs(h *hostapitest.Host) []uint64 {
	var out []uint64
	for _, it := range h.Items() {
		out = append(out, it.Seq)
	}
	return out
}

type result struct {
	code           int
	stdout, stderr string
}

func rmIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"smvs-rm"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func ok(t *testing.T, want string, args ...string) result {
	t.Helper()
	r := rmIn(t, "", args...)
	if r.code != 0 || r.stderr != "" || r.stdout != want {
		t.Errorf("%q: status %d, stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", args, r.code, r.stdout, r.stderr, want)
	}
	return r
}

func fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := rmIn(t, "", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Errorf("%q: status %d, stderr:\n%s\nwant status %d and %q", args, r.code, r.stderr, code, want)
	}
	return r
}

func wantSeqs(t *testing.T, h *hostapitest.Host, want ...uint64) {
	t.Helper()
	if got := seqs(h); !slices.Equal(got, want) {
		t.Errorf("the host holds %v, want %v", got, want)
	}
}

func TestDeleteSeqs(t *testing.T) {
	h := newHost(t)
	ok(t, "deleted 1 message\n", "2")
	wantSeqs(t, h, 1, 3, 4, 5)

	// Like rm: the others are deleted, each missing one is named, status 1.
	r := fails(t, 1, "smvs-rm: error: no message 9\nsmvs-rm: error: no message 2\nsmvs-rm: hint: smvs-recv --json lists", "1", "9", "3", "2", "1")
	if r.stdout != "deleted 2 messages\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	wantSeqs(t, h, 4, 5)
	if d := h.Deletes(); !slices.Equal(d[len(d)-1].Seqs, []uint64{1, 9, 3, 2}) {
		t.Errorf("asked to delete %v", d[len(d)-1].Seqs)
	}

	// By id, as smvs-recv --json shows it.
	id := hex.EncodeToString(h.Items()[0].ID)
	ok(t, "deleted 1 message\n", strings.ToUpper(id))
	fails(t, 1, "smvs-rm: error: no message "+id+"\n", id)
	wantSeqs(t, h, 5)

	ok(t, "", "--quiet", "5")
	if r := rmIn(t, "", "--json", "5", "7"); r.code != 1 || r.stdout != `{"deleted":0,"missing":["5","7"]}`+"\n" {
		t.Errorf("--json: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestDeleteConversation(t *testing.T) {
	defer func(f func(any) bool) { isTerminal = f }(isTerminal)
	h := newHost(t)

	// Without a terminal to ask on, only with --yes.
	isTerminal = func(any) bool { return false }
	fails(t, cli.ExitUsage, "error: deleting the whole conversation with alice needs --yes when there is no terminal to ask on", "--conversation", "alice")
	wantSeqs(t, h, 1, 2, 3, 4, 5)

	// On a terminal, only y or yes deletes.
	isTerminal = func(any) bool { return true }
	for _, answer := range []string{"", "n\n", "no\n", "yess\n"} {
		r := rmIn(t, answer, "--conversation", "alice")
		if r.code != 1 || r.stderr != "delete the whole conversation with alice? [y/N] smvs-rm: error: nothing deleted\n" || r.stdout != "" {
			t.Errorf("answer %q: status %d, stdout %q, stderr:\n%s", answer, r.code, r.stdout, r.stderr)
		}
	}
	wantSeqs(t, h, 1, 2, 3, 4, 5)
	if r := rmIn(t, " Yes\n", "--conversation", "alice"); r.code != 0 || r.stdout != "deleted 2 messages\n" {
		t.Errorf("yes: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	wantSeqs(t, h, 3, 4, 5)
	if d := h.Deletes(); d[0].Peer != "alice" || !d[0].All {
		t.Errorf("asked %+v", d[0])
	}

	isTerminal = func(any) bool { return false }
	ok(t, "deleted 3 messages\n", "--yes", "--conversation", key(bobKey))
	wantSeqs(t, h)
	fails(t, exitUnknownPeer, "error: unknown contact carol", "--yes", "--conversation", "carol")
	fails(t, exitUnknownPeer, "checksum", "--yes", "--conversation", key(bobKey)[:20]+"x"+key(bobKey)[21:])
}

func TestDeleteBeforeAndAll(t *testing.T) {
	defer func(f func(any) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(any) bool { return false }
	h := newHost(t)
	ok(t, "deleted 1 message\n", "--before", "150m", "--from", "bob")
	wantSeqs(t, h, 1, 2, 4, 5)
	d := h.Deletes()[0]
	if want := time.Now().Add(-150 * time.Minute).UnixMilli(); d.Peer != "bob" || d.Before < want-5000 || d.Before > want {
		t.Errorf("asked %+v, want before %d", d, want)
	}
	ok(t, "deleted 2 messages\n", "--before", "1d")
	ok(t, "deleted 0 messages\n", "--before", "2025-03-01 12:00")

	fails(t, cli.ExitUsage, "deleting every message of every conversation needs --yes", "--all")
	ok(t, `{"deleted":2}`+"\n", "--all", "-y", "--json")
	wantSeqs(t, h)
}

func TestForEveryone(t *testing.T) {
	h := newHost(t)
	// Seqs 3 and 5 were sent to bob, 2 to alice; 4 came from bob.
	ok(t, "deleted 4 messages\nasked alice's host to delete 1 message you sent\nasked bob's host to delete 2 messages you sent\n",
		"--for-everyone", "3", "4", "5", "2")
	if d := h.Deletes()[0]; !d.ForEveryone {
		t.Errorf("asked %+v", d)
	}
	ok(t, "deleted 1 message\nno peer's host was asked: you sent none of them\n", "--for-everyone", "1")

	h = newHost(t)
	h.AnswerDeletions(delivery.Sent)
	ok(t, "deleted 1 message\nasked bob's host to delete 1 message you sent\nbob's host deleted 1 message\n", "--for-everyone", "--wait", "3")

	h.AnswerDeletions(delivery.Refused)
	r := fails(t, exitNotEverywhere, "smvs-rm: error: deleted here, but not every peer's host deleted its copies\nsmvs-rm: hint: a peer's host deletes on request only if",
		"--for-everyone", "--wait", "5")
	if r.stdout != "deleted 1 message\nasked bob's host to delete 1 message you sent\nbob's host refused to delete 1 message\n" {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	h.AnswerDeletions(delivery.Failed)
	r = rmIn(t, "", "--for-everyone", "--wait", "--json", "2")
	var got deleteJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitNotEverywhere || got.Deleted != 1 || len(got.Requests) != 1 ||
		got.Requests[0].Status != "failed" || got.Requests[0].Peer != key(aliceKey) || got.Requests[0].PeerName != "alice" || got.Requests[0].Messages != 1 {
		t.Errorf("--json: status %d, stdout %s (%v)", r.code, r.stdout, err)
	}

	// Not answered in time: the request stays queued.
	newHost(t)
	start := time.Now()
	r = fails(t, exitNoAnswer, "error: deleted here, but not every peer's host answered within 200ms", "--for-everyone", "--timeout", "200ms", "--all", "--yes")
	if !strings.HasSuffix(r.stdout, "bob's host did not answer within 200ms\n") || time.Since(start) > 5*time.Second {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestExpireAfter(t *testing.T) {
	h := newHost(t)
	ok(t, "messages with bob now disappear 1d after they are sent (before: never)\n", "--expire-after", "1d", "bob")
	ok(t, "messages with bob now disappear 1h30m after they are sent (before: 1d)\n", "--expire-after", "90m", "bob")
	ok(t, "messages with bob no longer disappear (before: 1h30m)\n", "--expire-after", "off", "bob")
	ok(t, `{"peer":"`+key(aliceKey)+`","peer_name":"alice","expire_after_ms":7000,"was_ms":0}`+"\n", "--expire-after", "7s", "--json", key(aliceKey))
	fails(t, exitUnknownPeer, "error: unknown contact carol", "--expire-after", "1d", "carol")
	wantSeqs(t, h, 1, 2, 3, 4, 5)

	// A stranger whose record claims a contact's name is named by key,
	// the claim marked, and in --json as claimed_name alone.
	stranger := bytes.Repeat([]byte{0xca}, wire.KeySize)
	h.Claim(stranger, "bob\x1b[2J")
	ok(t, "messages with "+key(stranger)[:16]+"… (says bob\\x1b[2J) now disappear 1d after they are sent (before: never)\n",
		"--expire-after", "1d", key(stranger))
	ok(t, `{"peer":"`+key(stranger)+`","claimed_name":"bob\u001b[2J","expire_after_ms":7000,"was_ms":86400000}`+"\n",
		"--expire-after", "7s", "--json", key(stranger))
}

func TestHostErrors(t *testing.T) {
	h := newHost(t)
	h.RefuseOp(hostapi.OpDelete, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "this host does not delete yet"})
	fails(t, 1, "smvs-rm: error: this host does not delete yet", "1")
	h.Stop()
	for _, args := range [][]string{{"1"}, {"--expire-after", "1d", "bob"}, {"--all", "--yes"}} {
		r := fails(t, exitHostNotRunning, "error: the host is not running: nothing listens on "+h.Path(), args...)
		if !strings.Contains(r.stderr, "hint: start smvs-hostd") {
			t.Errorf("no hint:\n%s", r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	defer func(f func(any) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(any) bool { return true }
	h := newHost(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "missing argument: name the messages to delete by seq, or use --conversation, --before or --all"},
		{[]string{"0"}, `invalid message "0"`},
		{[]string{"abc"}, `invalid message "abc": want a seq or an id, as smvs-recv --json shows them`},
		{[]string{"1", "--all"}, "flag --all after an argument"},
		{[]string{"--all", "1"}, `unexpected argument "1"`},
		{[]string{"--all", "--conversation", "bob"}, "--conversation and --all can't be used together"},
		{[]string{"--before", "1d", "--expire-after", "1d", "bob"}, "--before and --expire-after can't be used together"},
		{[]string{"--from", "bob", "1"}, "--from goes with --before; to delete a whole conversation, use --conversation bob"},
		{[]string{"--before", "soon"}, `invalid --before "soon"`},
		{[]string{"--before", "42"}, `invalid --before "42"`},
		{[]string{"--wait", "1"}, "--wait and --timeout wait for the peers' hosts: they go with --for-everyone"},
		{[]string{"--timeout", "1m", "1"}, "--wait and --timeout wait for the peers' hosts: they go with --for-everyone"},
		{[]string{"--for-everyone", "--timeout", "-1m", "1"}, `invalid --timeout "-1m"`},
		{[]string{"--json", "--quiet", "1"}, "--json and --quiet can't be used together"},
		{[]string{"--conversation", "x"}, `invalid --conversation "x"`},
		{[]string{"--expire-after", "bob"}, "--expire-after takes a DURATION (or off), then the PEER: smvs-rm --expire-after 1d bob"},
		{[]string{"--expire-after", "1d"}, "missing argument: --expire-after 1d needs the PEER"},
		{[]string{"--expire-after", "soon", "bob"}, `invalid --expire-after "soon": want a duration such as 7d, 1h or 30m, or off`},
		{[]string{"--expire-after", "400d", "bob"}, `invalid --expire-after "400d": at most 366d`},
		{[]string{"--expire-after", "10ms", "bob"}, `invalid --expire-after "10ms": at least 1s`},
		{[]string{"--expire-after", "1d", "bob", "alice"}, `unexpected argument "alice"`},
		{[]string{"--expire-after", "1d", "--for-everyone", "bob"}, "--expire-after sets how long messages live: it can't be used with --for-everyone"},
		{[]string{"--for-everyone=yes", "1"}, `--for-everyone takes no value, but was given "yes"`},
	} {
		r := fails(t, cli.ExitUsage, "error: "+tt.want, tt.args...)
		if !strings.Contains(r.stderr, "hint: see 'smvs-rm --help'") {
			t.Errorf("%q: no hint:\n%s", tt.args, r.stderr)
		}
	}
	wantSeqs(t, h, 1, 2, 3, 4, 5)
	if d := h.Deletes(); len(d) != 0 {
		t.Errorf("the host was asked %+v", d)
	}
}

func TestLifetime(t *testing.T) {
	for ms, want := range map[int64]string{0: "never", 1000: "1s", 90 * 60000: "1h30m", 7 * 86400000: "7d",
		86400000 + 1000: "1d1s", 1500: "1.5s"} {
		if got := lifetime(ms); got != want {
			t.Errorf("lifetime(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	newHost(t)
	r := rmIn(t, "", "--help")
	for _, want := range []string{"--conversation PEER", "--before WHEN", "--expire-after DURATION", "--for-everyone", "man smvs-rm"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := rmIn(t, "", "--version"); !regexp.MustCompile(`^smvs-rm \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: %q", r.stdout)
	}
	if r := rmIn(t, "", "--completion", "zsh"); !strings.Contains(r.stdout, "\n_smvs-rm() {") {
		t.Errorf("zsh completion:\n%s", r.stdout)
	}
}

// TestManPage checks that man/smvs-rm.1 documents every flag, and no flag
// that does not exist, every environment variable and exit status.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-rm.1",
		App:       newApp(strings.NewReader("")),
		Env:       []string{cli.SocketEnv, cli.HomeEnv, "XDG_RUNTIME_DIR"},
		ExitCodes: []int{0, 1, 2, exitUnknownPeer, exitHostNotRunning, exitNoAnswer, exitNotLinked, exitNotEverywhere},
	})
}
