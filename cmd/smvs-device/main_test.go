package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/host"
	"smvs/lib/identity"
	"smvs/lib/link"
)

type result struct {
	code           int
	stdout, stderr string
}

func runDevice(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"smvs-device"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func want(t *testing.T, r result, code int, stderr ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

// startHost starts a real host for a new identity, with its home as the
// owner's SMVS home and its socket in SMVS_SOCKET.
func startHost(t *testing.T) (*host.Host, string) {
	t.Helper()
	home := t.TempDir()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.WriteNewFile(filepath.Join(home, "identity"), id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "smvs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	h, err := host.Start(host.Config{
		Keys: identity.NewKeyring(id, filepath.Join(home, "identity"), nil), Home: home, DataDir: filepath.Join(home, "data"),
		Socket: filepath.Join(sockDir, "host.sock"), Listen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx)
	})
	return h, home
}

// newDevice makes an SMVS home with a device key, and returns it.
func newDevice(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	d, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.WriteNewFile(filepath.Join(home, link.DeviceKeyFile), d.MarshalText()); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestPairLinkListRevoke(t *testing.T) {
	h, ownerHome := startHost(t)
	t.Setenv(cli.SocketEnv, h.Socket())
	owner := []string{"--home", ownerHome}

	r := runDevice(t, "", append([]string{"pair", "--json", "--name", "laptop"}, owner...)...)
	want(t, r, 0)
	var p pairingJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Address != h.Addr().String() || p.Name != "laptop" {
		t.Fatalf("pair printed %q: %v", r.stdout, err)
	}
	t.Setenv(cli.SocketEnv, "")
	laptop := newDevice(t)
	// The code from standard input, to keep it out of the shell's history.
	r = runDevice(t, p.Code+"\n", "link", "--home", laptop, p.Address, p.Identity, "-")
	want(t, r, 0)
	if !strings.Contains(r.stdout, "linked as laptop to "+p.Identity) {
		t.Errorf("link printed %q", r.stdout)
	}
	l, err := link.Read(laptop)
	if err != nil || l.Address != p.Address || l.Identity.String() != p.Identity || l.Name != "laptop" {
		t.Fatalf("link file %+v, %v", l, err)
	}
	// The code works once.
	other := newDevice(t)
	want(t, runDevice(t, "", "link", "--home", other, p.Address, p.Identity, p.Code), exitNotLinked, "wrong, spent or expired")
	// A device the host doesn't know can't link without a code.
	want(t, runDevice(t, "", "link", "--home", other, p.Address, p.Identity), exitNotLinked, "not linked")

	t.Setenv(cli.SocketEnv, h.Socket())
	r = runDevice(t, "", append([]string{"list", "--json"}, owner...)...)
	want(t, r, 0)
	var d deviceJSON
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Name != "laptop" || d.Revoked != "" {
		t.Fatalf("list printed %q: %v", r.stdout, err)
	}
	want(t, runDevice(t, "", append(append([]string{"revoke"}, owner...), "desk")...), exitNotFound, `no such device "desk"`)
	r = runDevice(t, "", append(append([]string{"revoke"}, owner...), "laptop")...)
	want(t, r, 0)
	if !strings.HasPrefix(r.stdout, "revoked laptop smvsdev1") {
		t.Errorf("revoke printed %q", r.stdout)
	}
	r = runDevice(t, "", append([]string{"list"}, owner...)...)
	if !strings.Contains(r.stdout, "revoked") {
		t.Errorf("list after revoke:\n%s", r.stdout)
	}
	t.Setenv(cli.SocketEnv, "")
	want(t, runDevice(t, "", "link", "--home", laptop, p.Address, p.Identity), exitNotLinked, "was revoked by its owner")
}

// A host presenting another key than the one given is refused before
// anything is sent, and no link file is written.
func TestLinkWrongHostKey(t *testing.T) {
	h, _ := startHost(t)
	other, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevice(t)
	want(t, runDevice(t, "", "link", "--home", dev, h.Addr().String(), other.Public().String(), "AAAA-AAAA-AAAA-AAAA"), 1,
		"is not the one this device was linked to")
	if _, err := link.Read(dev); err != link.ErrNotLinked {
		t.Errorf("link file after a refused link: %v", err)
	}
}

// TestLinkFileNames checks the device's files: link writes "link",
// unlink removes it and a link file under its old name "host", and never
// a directory named "host" (a host's store under the old layout).
func TestLinkFileNames(t *testing.T) {
	h, _ := startHost(t)
	r := runDevice(t, "", "pair", "--json", "--socket", h.Socket(), "--home", t.TempDir())
	want(t, r, 0)
	var p pairingJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	dev := newDevice(t)
	want(t, runDevice(t, "", "link", "--home", dev, p.Address, p.Identity, p.Code), 0)
	linkFile, legacy := filepath.Join(dev, "link"), filepath.Join(dev, "host")
	if info, err := os.Stat(linkFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("link file: %v, %v; want mode 0600", info, err)
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Error("link wrote a file named host")
	}
	// Linked before the file was renamed: the link is "host".
	if err := os.Rename(linkFile, legacy); err != nil {
		t.Fatal(err)
	}
	want(t, runDevice(t, "", "unlink", "--home", dev), 0)
	if _, err := os.Stat(legacy); err == nil {
		t.Error("unlink left the legacy link file")
	}
	want(t, runDevice(t, "", "unlink", "--home", dev), 1, "not linked", linkFile)

	// A directory named host is a store, not a link: unlink leaves it.
	if err := os.Mkdir(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(legacy, "messages.db"), []byte("x"), 0o600)
	want(t, runDevice(t, "", "unlink", "--home", dev), 1, "not linked")
	if _, err := os.Stat(filepath.Join(legacy, "messages.db")); err != nil {
		t.Errorf("unlink touched the directory named host: %v", err)
	}
}

func TestUsage(t *testing.T) {
	dev := newDevice(t)
	want(t, runDevice(t, "", "link", "--home", dev, "127.0.0.1:1"), 2)
	want(t, runDevice(t, "", "link", "--home", dev, "nowhere", "smvs1x"), 2)
	want(t, runDevice(t, "", "add", "smvs1notadevice"), 2, "not a device key")
	want(t, runDevice(t, "", "pair", "--expires", "soon"), 2, "invalid --expires")
	want(t, runDevice(t, "", "unlink", "--home", dev), 1, "not linked")
	noKey := t.TempDir()
	id, _ := identity.Generate(identity.KindIdentity, time.Now())
	want(t, runDevice(t, "", "link", "--home", noKey, "127.0.0.1:1", id.Public().String()), 1, "smvs-keygen --device")
	// No host on the socket: the owner's commands say so.
	t.Setenv(cli.SocketEnv, filepath.Join(t.TempDir(), "none.sock"))
	want(t, runDevice(t, "", "list"), exitHostNotRunning, "start smvs-hostd")
}

func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-device.1",
		App:       newApp(nil),
		Env:       []string{cli.SocketEnv, cli.HomeEnv},
		ExitCodes: []int{0, 1, 2, exitNotFound, exitHostNotRunning, exitNotLinked},
	})
}
