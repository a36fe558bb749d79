// Command smvs-agent holds an SMVS identity for a host that must not: it
// alone reads the identity file, asks its passphrase once, and answers the
// host's requests to sign and to decapsulate over a unix socket, checking
// each caller's uid. The logic is in lib/agent; see man/smvs-agent.1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/identity"
)

// The environment twins of the flags that are smvs-agent's own.
const (
	envIdentity  = "SMVS_AGENT_IDENTITY"
	envAllowUser = "SMVS_AGENT_ALLOW_USER"
	envLifetime  = "SMVS_AGENT_LIFETIME"
)

// exitInUse is the exit status when another process holds the identity
// file, as smvs-hostd's; documented in the man page.
const exitInUse = 6

func main() {
	ctx, stop := cli.SignalContext()
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs smvs-agent with args until it fails, its lifetime is over or
// ctx is done (SIGINT or SIGTERM), and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(ctx)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(ctx context.Context) *urfave.App {
	flags := []urfave.Flag{
		&urfave.PathFlag{
			Name:      "identity",
			Aliases:   []string{"i"},
			Usage:     "hold the identity in `FILE` (default: identity in the SMVS home)",
			EnvVars:   []string{envIdentity},
			TakesFile: true,
		},
		&urfave.PathFlag{
			Name:      "socket",
			Usage:     "serve on the unix socket `FILE` (default: agent.sock in the SMVS home)",
			EnvVars:   []string{agent.SocketEnv},
			TakesFile: true,
		},
		&urfave.StringSliceFlag{
			Name:    "allow-user",
			Usage:   "serve the user `NAME` (or a uid) too, besides the agent's own; repeat for more",
			EnvVars: []string{envAllowUser},
		},
		&urfave.BoolFlag{
			Name:  "log-uses",
			Usage: "log every use: time, caller's uid and pid, operation, KEM key id or signing purpose",
		},
		&urfave.StringFlag{
			Name:        "lifetime",
			Usage:       "exit after `DURATION` (as 8h or 7d), destroying the keys",
			DefaultText: "until stopped",
			EnvVars:     []string{envLifetime},
		},
		&urfave.BoolFlag{
			Name:  "health",
			Usage: "start nothing: ask the agent serving the socket who it holds, and exit 0 if it answers (a container's health check)",
		},
		cli.HomeFlag(),
	}
	flags = append(flags, cli.PassphraseFlags()...)
	return &urfave.App{
		Name:      "smvs-agent",
		Usage:     "hold an SMVS identity and sign and decapsulate for the host",
		UsageText: "smvs-agent [--identity FILE] [--socket FILE] [--allow-user NAME]... [options]",
		Description: "Reads the identity file once (asking its passphrase once), holds its lock, and\n" +
			"serves smvs-hostd --agent on a unix socket: it signs and decapsulates for callers\n" +
			"of its own uid or an allowed one, and never hands out a private key. Once it\n" +
			"serves, it prints on standard output, for a shell to eval:\n" +
			"  SMVS_AGENT_SOCK=FILE; export SMVS_AGENT_SOCK;\n" +
			"then serves until SIGTERM or SIGINT, or --lifetime, and exits 0.",
		Flags: flags,
		Action: func(c *urfave.Context) error {
			cfg, err := parseConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("health") {
				return checkHealth(c, cfg.socket)
			}
			return serve(ctx, c, cfg)
		},
	}
}

// config is what the flags say.
type config struct {
	identity string
	socket   string
	allow    []uint32
	logUses  bool
	lifetime time.Duration // 0: until stopped
}

// parseConfig checks the flags: any error is a usage error, and nothing
// is read or made yet.
func parseConfig(c *urfave.Context) (*config, error) {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return nil, err
	}
	cfg := &config{identity: c.Path("identity"), socket: c.Path("socket"), logUses: c.Bool("log-uses")}
	if s := c.String("lifetime"); s != "" {
		d, err := cli.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, cli.UsageErrorf(c, "invalid --lifetime %q: want a duration such as 8h or 7d, or 0 for no limit", s)
		}
		cfg.lifetime = d
	}
	for _, name := range c.StringSlice("allow-user") {
		uid, err := lookupUID(name)
		if err != nil {
			return nil, cli.UsageErrorf(c, "--allow-user: %w", err)
		}
		cfg.allow = append(cfg.allow, uid)
	}
	home, err := cli.Home(c)
	if err != nil {
		return nil, cli.Errorf("%w", err)
	}
	if cfg.identity == "" {
		cfg.identity = filepath.Join(home, "identity")
	}
	if cfg.socket == "" {
		cfg.socket = filepath.Join(home, "agent.sock")
	}
	return cfg, nil
}

// checkHealth asks the agent on socket who it holds.
func checkHealth(c *urfave.Context, socket string) error {
	client, err := agent.Dial(socket)
	if err != nil {
		return cli.Errorf("unhealthy: %w", err)
	}
	defer client.Close()
	fmt.Fprintf(c.App.Writer, "smvs-agent: healthy: the agent on %s holds %s\n", socket, client.Public())
	return nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// lookupUID returns the uid of a user name or number.
func lookupUID(name string) (uint32, error) {
	if digits.MatchString(name) {
		uid, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid uid %q", name)
		}
		return uint32(uid), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("no user %q on this system", name)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has uid %q, not a number", name, u.Uid)
	}
	return uint32(uid), nil
}

// serve holds the identity and serves it until ctx is done or the
// lifetime is over.
func serve(ctx context.Context, c *urfave.Context, cfg *config) error {
	if err := agent.Supported(); err != nil {
		return cli.Errorf("%w", err)
	}
	if err := undumpable(); err != nil {
		return cli.Errorf("can't keep other processes from reading the agent's memory: %w", err)
	}
	unlock, err := identity.Lock(cfg.identity)
	if err != nil {
		return lockError(cfg.identity, err)
	}
	defer unlock()
	id, raw, pass, err := cli.ReadIdentityForRewrite(c, cfg.identity)
	if err != nil {
		return err
	}
	clear(raw)
	if id.Kind() != identity.KindIdentity {
		id.Destroy()
		clear(pass)
		return cli.Errorf("%s holds a device key, not an identity", cfg.identity)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	srv, err := agent.NewServer(agent.Config{
		Identity: id, Path: cfg.identity, Passphrase: pass, Allow: cfg.allow, Log: log, LogUses: cfg.logUses,
	})
	clear(pass)
	if err != nil {
		id.Destroy()
		return cli.Errorf("%w", err)
	}
	defer srv.Close() // destroys the keys
	l, err := agent.Listen(cfg.socket)
	if err != nil {
		return listenError(cfg.socket, err)
	}
	defer l.Close() // removes the socket

	if cfg.lifetime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.lifetime)
		defer cancel()
	}
	fmt.Fprintf(c.App.ErrWriter, "smvs-agent: holding %s on %s for %s\n", srv.Public(), cfg.socket, uids(cfg.allow))
	fmt.Fprintf(c.App.Writer, "%s=%s; export %s;\n", agent.SocketEnv, shellWord(cfg.socket), agent.SocketEnv)
	if err := srv.Serve(ctx, l); err != nil {
		return cli.Errorf("%w", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		log.Info("lifetime over, stopping", "lifetime", cfg.lifetime)
	}
	return nil
}

// uids names whom the agent serves, for its first line.
func uids(allow []uint32) string {
	s := []string{fmt.Sprintf("uid %d (its own)", os.Getuid())}
	for _, uid := range allow {
		s = append(s, fmt.Sprintf("uid %d", uid))
	}
	return strings.Join(s, ", ")
}

// shellWord quotes s for a POSIX shell's eval, if it needs quoting.
func shellWord(s string) string {
	if regexp.MustCompile(`^[[:alnum:]_@%+=:,./-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockError explains why the identity file's lock was not taken.
func lockError(path string, err error) error {
	var inUse *identity.InUseError
	if errors.As(err, &inUse) {
		who := "another process"
		if inUse.PID > 0 {
			who = fmt.Sprintf("process %d", inUse.PID)
		}
		return cli.Errorf("%w", err).WithExitCode(exitInUse).
			WithHintf("%s owns it: a running smvs-hostd that reads it, or another smvs-agent; stop it first, "+
				"then run the host with --agent", who)
	}
	if errors.Is(err, fs.ErrNotExist) { // no directory for the lock file
		return cli.Errorf("no key file at %s", path).WithHintf("make one with: smvs-keygen -o %s", path)
	}
	return cli.Errorf("can't lock %s: %w", path, err)
}

// listenError explains why the socket was not made.
func listenError(path string, err error) error {
	if errors.Is(err, agent.ErrRunning) {
		return cli.Errorf("%w", err).WithHintf("stop the other agent, or give this one another socket with --socket")
	}
	return cli.Errorf("can't serve on %s: %w", path, err)
}
