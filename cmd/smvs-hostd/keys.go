package main

import (
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/identity"
)

// openKeys returns the identity's keys and the function that lets them
// go: through the smvs-agent on agentSock, if given, without touching the
// identity file; else read from the identity file, which the host then
// owns (identity.Lock) until release, and saves on each KEM rotation.
func openKeys(c *urfave.Context, agentSock string, log *slog.Logger) (identity.Keys, func(), error) {
	if agentSock != "" {
		return agentKeys(agentSock, log)
	}
	path, err := cli.IdentityPath(c)
	if err != nil {
		return nil, nil, err
	}
	unlock := func() {}
	// A missing file takes no lock (which would leave a lock file behind):
	// reading it says what is wrong.
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		if unlock, err = identity.Lock(path); err != nil {
			return nil, nil, lockError(path, err)
		}
	}
	id, raw, pass, err := cli.ReadIdentityForRewrite(c, path)
	clear(raw)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	if id.Kind() != identity.KindIdentity {
		id.Destroy()
		clear(pass)
		unlock()
		return nil, nil, cli.Errorf("%s holds a device key, not an identity", path)
	}
	keys := identity.NewKeyring(id, path, pass)
	clear(pass)
	log.Info("the identity's keys are held in this process", "identity", path)
	return keys, func() { keys.Close(); unlock() }, nil
}

// lockError explains why the identity file's lock could not be taken.
func lockError(path string, err error) error {
	inUse, ok := errors.AsType[*identity.InUseError](err)
	if !ok {
		return cli.Errorf("can't take the lock of the identity %s: %w", path, err).
			WithHintf("smvs-hostd writes %s beside the identity, which it saves after each KEM rotation: "+
				"let its user write that directory, or keep the identity in smvs-agent and start with --agent", identity.LockPath(path))
	}
	e := cli.Errorf("the identity %s is in use by another process", path)
	if inUse.PID > 0 {
		e = cli.Errorf("the identity %s is in use by process %d", path, inUse.PID)
	}
	e = e.WithExitCode(exitIdentityInUse)
	if processName(inUse.PID) == "smvs-agent" {
		return e.WithHintf("smvs-agent holds this identity: start the host with --agent SOCKET (or set %s) to use its keys", agent.SocketEnv)
	}
	return e.WithHintf("is another smvs-hostd or smvs-agent running? one process owns an identity; " +
		"with smvs-agent, start the host with --agent SOCKET")
}

// processName is the command name of process pid, where the system tells
// (Linux's /proc), else "".
func processName(pid int) string {
	if pid <= 0 || runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
