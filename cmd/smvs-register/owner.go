package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
)

// The identity has one writer at a time: a running smvs-hostd, or
// smvs-agent, or this command for the length of one change, holding the
// identity file's lock (identity.Lock). This file finds which.

// ownerFlags are the flags of the commands that change the identity or
// its record: where to find the host or the agent that owns it.
func ownerFlags() []urfave.Flag {
	return []urfave.Flag{cli.SocketFlag(), agentFlag()}
}

// agentFlag is --agent, smvs-agent's socket, with SMVS_AGENT_SOCK as its
// environment twin.
func agentFlag() urfave.Flag {
	return &urfave.PathFlag{
		Name:      "agent",
		Usage:     "the identity's keys are held by smvs-agent on `SOCKET`",
		EnvVars:   []string{agent.SocketEnv},
		TakesFile: true,
	}
}

// agentSocket is smvs-agent's socket: --agent (or SMVS_AGENT_SOCK), else
// the socket an agent started with its defaults serves (agent.sock in the
// SMVS home) if there is one, else "".
func agentSocket(c *urfave.Context) string {
	if socket := c.Path("agent"); socket != "" {
		return socket
	}
	home, err := cli.Home(c)
	if err != nil {
		return ""
	}
	socket := filepath.Join(home, "agent.sock")
	if info, err := os.Stat(socket); err != nil || info.Mode().Type() != fs.ModeSocket {
		return ""
	}
	return socket
}

// agentKey returns the identity key smvs-agent holds, if --agent (or
// SMVS_AGENT_SOCK) names one that answers: the identity file may be out
// of this user's reach.
func agentKey(c *urfave.Context) (identity.PublicKey, bool) {
	socket := agentSocket(c)
	if socket == "" {
		return identity.PublicKey{}, false
	}
	k, err := agent.Dial(socket)
	if err != nil {
		return identity.PublicKey{}, false
	}
	defer k.Close()
	return k.Public(), true
}

// keys is this identity's keys for the length of one change, held where
// its owner keeps them: in smvs-agent, or in this process under the
// identity file's lock (localKeys). Every change is saved there before
// the call returns.
type keys interface {
	identity.Keys
	// RotateIdentity replaces the identity with the one identity.Rotate
	// makes, and returns its key; Public then returns it too.
	RotateIdentity(ctx context.Context) (identity.PublicKey, error)
	Close() error
}

// runningHost returns a connection to the user's running host, or nil if
// none answers on its socket. Only the host's unix socket serves a change
// of the identity, so a linked device's link is not followed.
func runningHost(c *urfave.Context) (*hostapi.Client, error) {
	socket, err := cli.SocketPath(c)
	if err != nil {
		return nil, err
	}
	client, err := hostapi.Dial(c.Context, socket)
	if errors.Is(err, hostapi.ErrHostNotRunning) {
		return nil, nil
	}
	if err != nil {
		return nil, cli.Errorf("%w", err)
	}
	return client, nil
}

// change is what a command does to the identity, for the words of a
// refusal.
type change int

const (
	changeRecord   change = iota // publish, update, rotate --kem: a running host does them
	changeIdentity               // rotate --identity: not beside a running host
	changeRemove                 // remove: not beside a running host, which would publish again
)

// hostRefusal is the error of a change a running host (process pid, 0 if
// unknown) can't make for this command.
func hostRefusal(what change, pid int) *cli.Error {
	proc := "smvs-hostd runs"
	if pid > 0 {
		proc = fmt.Sprintf("smvs-hostd runs (process %d)", pid)
	}
	switch what {
	case changeIdentity:
		return cli.Errorf("can't rotate the identity while %s", proc).WithExitCode(exitInUse).
			WithHintf("stop smvs-hostd, run smvs-register rotate --identity, then start it again: it moves its store to the new identity")
	case changeRemove:
		return cli.Errorf("can't remove your record while %s: it would publish it again", proc).WithExitCode(exitInUse).
			WithHintf("stop smvs-hostd, run smvs-register remove, and start it again without --name if it is to stay unlisted")
	}
	return nil
}

// openKeys returns the identity's keys for one change: smvs-agent's, if
// --agent (or SMVS_AGENT_SOCK) names one that answers; else those of the
// identity file, read and held under its lock until Close. An identity
// another process owns is refused, said according to what the command
// does.
func openKeys(c *urfave.Context, what change) (keys, error) {
	if k, err := dialAgent(c); k != nil || err != nil {
		return k, err
	}
	path, err := cli.IdentityPath(c)
	if err != nil {
		return nil, err
	}
	unlock, err := identity.Lock(path)
	var inUse *identity.InUseError
	switch {
	case errors.As(err, &inUse):
		return nil, inUseError(c, what, inUse)
	case errors.Is(err, fs.ErrNotExist):
		// No SMVS home, so no identity: reading it says so, with a hint.
		unlock = func() {}
	case err != nil:
		return nil, cli.Errorf("locking the identity: %w", err)
	}
	me, err := readSelfForRewrite(c)
	if err != nil {
		unlock()
		return nil, err
	}
	k := &localKeys{Keyring: identity.NewKeyring(me.id, me.path, me.pass), id: me.id, path: me.path, pass: me.pass, unlock: unlock}
	return k, nil
}

// inUseError explains the identity file's lock held by another process:
// smvs-hostd whose socket did not answer, smvs-agent that --agent does
// not name, or another command.
func inUseError(c *urfave.Context, what change, err *identity.InUseError) *cli.Error {
	name := processName(err.PID)
	switch name {
	case "smvs-hostd":
		if e := hostRefusal(what, err.PID); e != nil {
			return e
		}
		socket, _ := cli.SocketPath(c)
		return cli.Errorf("%w (smvs-hostd), which does not answer on %s", err, socket).WithExitCode(exitInUse).
			WithHintf("point --socket (or %s) at the socket smvs-hostd listens on: it makes the change itself", cli.SocketEnv)
	case "smvs-agent":
		return cli.Errorf("%w (smvs-agent)", err).WithExitCode(exitInUse).
			WithHintf("point --agent (or %s) at the socket smvs-agent listens on: the change goes through it", agent.SocketEnv)
	}
	e := cli.Errorf("%w", err)
	if name != "" {
		e = cli.Errorf("%w (%s)", err, name)
	}
	return e.WithExitCode(exitInUse).
		WithHintf("smvs-hostd, smvs-agent or another smvs-register holds it: try again once it is done, or stop it")
}

// processName is the name of the running process pid ("" if unknown),
// from /proc on Linux. A variable, so that tests can name their own
// process.
var processName = func(pid int) string {
	if pid <= 0 || runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// localKeys is the identity file's keys, held in this process under the
// file's lock: the file's one writer until Close.
type localKeys struct {
	*identity.Keyring
	id     *identity.Identity // the one Keyring holds
	path   string
	pass   []byte // the file's passphrase, nil if unprotected
	unlock func()
}

// RotateIdentity implements keys: the new identity is written over the
// file atomically, protected as the file was, carrying the rotation chain
// and the retired key until the host has moved its store over.
func (k *localKeys) RotateIdentity(context.Context) (identity.PublicKey, error) {
	next, err := k.id.Rotate(time.Now())
	if err != nil {
		return identity.PublicKey{}, err
	}
	text := next.MarshalText()
	defer clear(text)
	data := text
	if k.pass != nil {
		if data, err = identity.Encrypt(text, k.pass); err != nil {
			next.Destroy()
			return identity.PublicKey{}, fmt.Errorf("protecting the new identity: %w", err)
		}
	}
	if err := identity.ReplaceFile(k.path, data); err != nil {
		next.Destroy()
		return identity.PublicKey{}, fmt.Errorf("saving the new identity: %w", err)
	}
	k.Keyring.Close()
	k.Keyring, k.id = identity.NewKeyring(next, k.path, k.pass), next
	return next.Public(), nil
}

// Close destroys the keys and releases the lock.
func (k *localKeys) Close() error {
	k.Keyring.Close()
	clear(k.pass)
	k.unlock()
	return nil
}

// dialAgent returns the keys smvs-agent holds, if --agent (or
// SMVS_AGENT_SOCK) names one, or nil. An agent that does not run is
// warned about, and the identity file is used: nothing else holds it.
func dialAgent(c *urfave.Context) (keys, error) {
	socket := agentSocket(c)
	if socket == "" {
		return nil, nil
	}
	k, err := agent.Dial(socket)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, agent.ErrNotAllowed):
		return nil, cli.Errorf("%w", err).WithHintf("smvs-agent serves its own user and those its --allow-user names")
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		cli.Warningf(c, "no smvs-agent answers on %s (--agent or %s): using the identity file", socket, agent.SocketEnv)
		return nil, nil
	}
	return nil, cli.Errorf("%w", err).WithHintf("is %s the socket of smvs-agent?", socket)
}
