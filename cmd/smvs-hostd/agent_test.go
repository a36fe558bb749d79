package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smvs/lib/agent"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// startAgent serves id with an in-process smvs-agent on a new socket, and
// returns the socket's path.
func startAgent(t *testing.T, id *identity.Identity) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "smvs") // a unix socket's path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := agent.NewServer(agent.Config{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := agent.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srv.Serve(ctx, l)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		l.Close()
		<-done
		srv.Close()
	})
	return sock
}

// TestAgent runs the host with its keys in an agent and no identity file
// in its home: it starts, rotates its KEM key and publishes through the
// agent, and opens its store again at the next start.
func TestAgent(t *testing.T) {
	isolate(t)
	home, key := newHome(t, "")
	path := filepath.Join(home, "identity")
	id, err := identity.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	sock := startAgent(t, id)

	d := start(t, "--listen", "127.0.0.1:0", "--agent", sock)
	if d.id != key.String() {
		t.Errorf("start line id %s, want the agent's %s", d.id, key)
	}
	r, err := request(t, d.socket, &hostapi.Request{Op: hostapi.OpPublish, Publish: &hostapi.Publish{RotateKEM: true}})
	if err != nil || r.Published == nil || !r.Published.KEMRotated {
		t.Fatalf("a KEM rotation through the agent: %+v, %v", r, err)
	}
	if _, err := wire.VerifyRecord(r.Published.Record); err != nil {
		t.Fatalf("the record signed through the agent: %v", err)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("stop: status %d, stderr:\n%s", code, d.stderr)
	}
	if !strings.Contains(d.stderr.String(), `msg="the identity's keys are held by smvs-agent" socket=`+sock) {
		t.Errorf("the log does not say where the keys are:\n%s", d.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the host made an identity file: %v", err)
	}
	if _, err := os.Stat(identity.LockPath(path)); !os.IsNotExist(err) {
		t.Errorf("the host took the identity file's lock: %v", err)
	}

	// SMVS_AGENT_SOCK names it too; the store opens with the agent's key.
	t.Setenv(agent.SocketEnv, sock)
	d = start(t, "--listen", "127.0.0.1:0")
	if code := d.stop(); code != 0 {
		t.Fatalf("a restart through SMVS_AGENT_SOCK: status %d, stderr:\n%s", code, d.stderr)
	}

	// No agent there.
	res := runHostd(t, "--listen", "127.0.0.1:0", "--agent", filepath.Join(filepath.Dir(sock), "none.sock"))
	if res.code != exitNoAgent || !strings.Contains(res.stderr, "smvs-hostd: error: can't use the smvs-agent on ") ||
		!strings.Contains(res.stderr, "smvs-hostd: hint: is smvs-agent running?") {
		t.Errorf("no agent: status %d, stderr:\n%s", res.code, res.stderr)
	}
}
