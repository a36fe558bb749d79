package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"smvs/lib/cli"
	"smvs/lib/identity"
)

// TestIdentityOwnedByAnAgent checks that a host refused the identity file
// because an smvs-agent holds it is told to use the agent.
func TestIdentityOwnedByAnAgent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the owner's name comes from /proc")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	// A process named smvs-agent, as /proc tells.
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "smvs-agent")
	if err := os.WriteFile(fake, data, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	err = lockError("/home/alice/identity", &identity.InUseError{Path: "/home/alice/identity", PID: cmd.Process.Pid})
	e, ok := err.(*cli.Error)
	if !ok || e.ExitCode() != exitIdentityInUse || !strings.Contains(e.Error(), "in use by process") ||
		len(e.Hints()) != 1 || !strings.Contains(e.Hints()[0], "smvs-agent holds this identity: start the host with --agent SOCKET") {
		t.Fatalf("lockError = %#v", err)
	}
}
