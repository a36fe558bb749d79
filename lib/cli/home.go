package cli

import (
	"os"
	"path/filepath"
	"runtime"

	urfave "github.com/urfave/cli/v2"
)

// HomeEnv is the environment variable naming the directory of a user's SMVS
// files, the twin of the --home flag. Setting it gives a test, or a second
// user, a world of their own.
const HomeEnv = "SMVS_HOME"

// HomeFlag returns the --home flag, with HomeEnv as its environment twin,
// for commands that use the SMVS home directory.
func HomeFlag() *urfave.PathFlag {
	return &urfave.PathFlag{
		Name:      "home",
		Usage:     "keep the user's files in `DIR` (default: $XDG_CONFIG_HOME/smvs)",
		EnvVars:   []string{HomeEnv},
		TakesFile: true,
	}
}

// Home returns the SMVS home directory: the --home flag or $SMVS_HOME if
// set, else "smvs" in the user's configuration directory ($XDG_CONFIG_HOME,
// by default ~/.config, on every system but Windows).
func Home(c *urfave.Context) (string, error) {
	if dir := c.Path("home"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv(HomeEnv); dir != "" {
		return dir, nil
	}
	return defaultHome()
}

// HomeIsSet reports whether the SMVS home was given explicitly, with
// --home or $SMVS_HOME: then the files that have a place of their own by
// default (the host's socket and store) are kept in it, so that a test or
// a second user has a world of their own.
func HomeIsSet(c *urfave.Context) bool {
	return c.Path("home") != "" || os.Getenv(HomeEnv) != ""
}

func defaultHome() (string, error) {
	if runtime.GOOS == "windows" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, "smvs"), nil
	}
	// The XDG spec says to ignore a relative $XDG_CONFIG_HOME.
	if dir := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "smvs"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", Errorf("can't find the SMVS home directory: neither $%s nor $HOME is set", HomeEnv).
			WithHintf("set %s to the directory for your SMVS files", HomeEnv)
	}
	return filepath.Join(home, ".config", "smvs"), nil
}

// IdentityPath returns the path of the user's identity file, "identity" in
// the SMVS home directory.
func IdentityPath(c *urfave.Context) (string, error) {
	home, err := Home(c)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "identity"), nil
}

// SocketEnv names the host's device socket, the twin of the --socket flag.
const SocketEnv = "SMVS_SOCKET"

// SocketFlag returns the --socket flag of the host and its local devices.
func SocketFlag() *urfave.PathFlag {
	return &urfave.PathFlag{
		Name:      "socket",
		Usage:     "the host's device socket `FILE` (default: $XDG_RUNTIME_DIR/smvs/host.sock, or host.sock in the SMVS home)",
		EnvVars:   []string{SocketEnv},
		TakesFile: true,
	}
}

// SocketPath returns the path of the host's device socket: the --socket
// flag or $SMVS_SOCKET if set; host.sock in the SMVS home if that was set
// explicitly (so a test or a second user gets its own); else
// $XDG_RUNTIME_DIR/smvs/host.sock when there is a runtime directory; else
// host.sock in the default SMVS home.
func SocketPath(c *urfave.Context) (string, error) {
	if path := c.Path("socket"); path != "" {
		return path, nil
	}
	if HomeIsSet(c) {
		home, err := Home(c)
		if err != nil {
			return "", err
		}
		return filepath.Join(home, "host.sock"), nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "smvs", "host.sock"), nil
	}
	home, err := Home(c)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "host.sock"), nil
}
