// Command smvs-hostd is the user's SMVS host: it receives sealed messages
// from other hosts over QUIC, stores them encrypted, delivers the user's
// outgoing messages with retries, and serves the user's devices on a unix
// socket. The logic is in lib/host; see man/smvs-hostd.8.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/contacts"
	"smvs/lib/dht"
	"smvs/lib/host"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/metrics"
	"smvs/lib/names"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// The environment twins of the flags that are smvs-hostd's own.
const (
	envData        = "SMVS_HOSTD_DATA"
	envListen      = "SMVS_HOSTD_LISTEN"
	envAdvertise   = "SMVS_HOSTD_ADVERTISE"
	envName        = "SMVS_HOSTD_NAME"
	envMaxMessage  = "SMVS_HOSTD_MAX_MESSAGE"
	envQuota       = "SMVS_HOSTD_QUOTA"
	envRetryFor    = "SMVS_HOSTD_RETRY_FOR"
	envBackoffMin  = "SMVS_HOSTD_BACKOFF_MIN"
	envBackoffMax  = "SMVS_HOSTD_BACKOFF_MAX"
	envPeerRate    = "SMVS_HOSTD_PEER_RATE"
	envPeerBurst   = "SMVS_HOSTD_PEER_BURST"
	envPeerStreams = "SMVS_HOSTD_PEER_STREAMS"
	envPeerDeletes = "SMVS_HOSTD_PEER_DELETES"
	envPortMapping = "SMVS_HOSTD_PORT_MAPPING"
	envRelay       = "SMVS_HOSTD_RELAY"
	envRelayFor    = "SMVS_HOSTD_RELAY_FOR"
	envMaxConns    = "SMVS_HOSTD_MAX_CONNECTIONS"
	envMaxConnsIP  = "SMVS_HOSTD_MAX_CONNECTIONS_PER_ADDRESS"
	envLogLevel    = "SMVS_HOSTD_LOG_LEVEL"
	envMetrics     = "SMVS_HOSTD_METRICS"
	envDHT         = "SMVS_HOSTD_DHT"
	envDHTListen   = "SMVS_HOSTD_DHT_LISTEN"
	envDHTBoot     = "SMVS_HOSTD_DHT_BOOTSTRAP"
	envDHTServe    = "SMVS_HOSTD_DHT_SERVE"

	envStrangerRate     = "SMVS_HOSTD_STRANGER_RATE"
	envStrangerBurst    = "SMVS_HOSTD_STRANGER_BURST"
	envStrangerStreams  = "SMVS_HOSTD_STRANGER_STREAMS"
	envStrangerQuota    = "SMVS_HOSTD_STRANGER_QUOTA"
	envStrangerKeyQuota = "SMVS_HOSTD_STRANGER_KEY_QUOTA"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitNameTaken     = 5 // a directory serves --name for another key
	exitIdentityInUse = 6 // another process owns the identity file
	exitNoAgent       = 7 // the smvs-agent of --agent does not answer, or refuses this user
	exitUnreachable   = 8 // --check-reach: others can't reach the host at the address its record gives
)

const (
	// defaultListen is loopback: serving other machines is the user's
	// choice, with --listen and --advertise.
	defaultListen = "127.0.0.1:7447"
	// shutdownTimeout bounds how long a stop waits for requests in flight.
	shutdownTimeout = 10 * time.Second
)

func main() {
	restrictUmask()
	ctx, stop := cli.SignalContext()
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs smvs-hostd with args until it fails or ctx is done (SIGINT or
// SIGTERM), and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(ctx)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(ctx context.Context) *urfave.App {
	flags := []urfave.Flag{
		&urfave.StringFlag{
			Name:    "listen",
			Usage:   "listen for other hosts on UDP `ADDR`, host:port; port 0 picks a free port",
			Value:   defaultListen,
			EnvVars: []string{envListen},
		},
		&urfave.StringFlag{
			Name:        "advertise",
			Usage:       "publish `ADDR` (HOST:PORT) as where other hosts reach this one",
			DefaultText: "the --listen address",
			EnvVars:     []string{envAdvertise},
		},
		&urfave.StringFlag{
			Name:        "name",
			Usage:       "publish the record under `NAME`",
			DefaultText: "the name of the record the directories serve",
			EnvVars:     []string{envName},
		},
		&urfave.PathFlag{
			Name:      "data",
			Usage:     "keep the message store in `DIR` (default: store in the SMVS home if set, else $XDG_DATA_HOME/smvs/store)",
			EnvVars:   []string{envData},
			TakesFile: true,
		},
		cli.SocketFlag(),
		cli.HomeFlag(),
		&urfave.PathFlag{
			Name:        "agent",
			Usage:       "use the identity's keys through the smvs-agent on `SOCKET`, without reading the identity file",
			DefaultText: "read the identity file",
			EnvVars:     []string{agent.SocketEnv},
			TakesFile:   true,
		},
	}
	flags = append(flags, cli.DirFlags()...)
	flags = append(flags, cli.PassphraseFlags()...)
	flags = append(flags,
		&urfave.StringFlag{
			Name:    "max-message",
			Usage:   "take and send messages of up to `SIZE` (as 64MiB or 500KB)",
			Value:   "64MiB",
			EnvVars: []string{envMaxMessage},
		},
		&urfave.StringFlag{
			Name:        "quota",
			Usage:       "keep the message store under `SIZE` (as 10GiB)",
			DefaultText: "no limit",
			EnvVars:     []string{envQuota},
		},
		&urfave.StringFlag{
			Name:    "retry-for",
			Usage:   "give up delivering a message after `DURATION` (as 7d or 36h)",
			Value:   "7d",
			EnvVars: []string{envRetryFor},
		},
		&urfave.StringFlag{
			Name:    "backoff-min",
			Usage:   "wait `DURATION` before the first retry of a peer's host that failed",
			Value:   host.DefaultBackoffMin.String(),
			EnvVars: []string{envBackoffMin},
		},
		&urfave.StringFlag{
			Name:    "backoff-max",
			Usage:   "wait at most `DURATION` between retries",
			Value:   host.DefaultBackoffMax.String(),
			EnvVars: []string{envBackoffMax},
		},
		&urfave.Float64Flag{
			Name:    "peer-rate",
			Usage:   "let each peer host deliver `N` messages a second on average",
			Value:   host.DefaultPeerRate,
			EnvVars: []string{envPeerRate},
		},
		&urfave.IntFlag{
			Name:    "peer-burst",
			Usage:   "let each peer host deliver `N` messages at once",
			Value:   host.DefaultPeerBurst,
			EnvVars: []string{envPeerBurst},
		},
		&urfave.IntFlag{
			Name:    "peer-streams",
			Usage:   "let each peer host have `N` deliveries in flight",
			Value:   host.DefaultPeerStreams,
			EnvVars: []string{envPeerStreams},
		},
		&urfave.IntFlag{
			Name:    "max-connections",
			Usage:   "take `N` QUIC connections of peers and remote devices at once",
			Value:   transport.DefaultMaxConns,
			EnvVars: []string{envMaxConns},
		},
		&urfave.IntFlag{
			Name:    "max-connections-per-address",
			Usage:   "take `N` of them from one IP address (one /64 for IPv6)",
			Value:   transport.DefaultMaxConnsPerAddr,
			EnvVars: []string{envMaxConnsIP},
		},
		&urfave.StringFlag{
			Name:    "stranger-rate",
			Usage:   "let strangers (keys not in the contacts) together deliver `N` messages a second on average; 0 or off for no limit",
			Value:   strconv.Itoa(host.DefaultStrangerRate),
			EnvVars: []string{envStrangerRate},
		},
		&urfave.IntFlag{
			Name:    "stranger-burst",
			Usage:   "let strangers together deliver `N` messages at once",
			Value:   host.DefaultStrangerBurst,
			EnvVars: []string{envStrangerBurst},
		},
		&urfave.IntFlag{
			Name:    "stranger-streams",
			Usage:   "let strangers together have `N` deliveries in flight",
			Value:   host.DefaultStrangerStreams,
			EnvVars: []string{envStrangerStreams},
		},
		&urfave.StringFlag{
			Name:    "stranger-quota",
			Usage:   "keep what strangers' messages take in the store under `SIZE` together; 0 or off for no limit",
			Value:   "64MiB",
			EnvVars: []string{envStrangerQuota},
		},
		&urfave.StringFlag{
			Name:    "stranger-key-quota",
			Usage:   "keep what each stranger's messages take in the store under `SIZE`; 0 or off for no limit",
			Value:   "16MiB",
			EnvVars: []string{envStrangerKeyQuota},
		},
		&urfave.StringFlag{
			Name:    "peer-deletes",
			Usage:   "with peers' requests to delete the messages they sent, `POLICY` own honours them, none refuses them all",
			Value:   host.PeerDeletesOwn.String(),
			EnvVars: []string{envPeerDeletes},
		},
		&urfave.StringFlag{
			Name: "port-mapping",
			Usage: "`MODE` auto asks the router to forward the port (PCP, NAT-PMP, UPnP IGD) when listening beyond loopback " +
				"without --advertise, and publishes its public address; off never asks; any-address also publishes a private one",
			Value:   host.PortMapAuto.String(),
			EnvVars: []string{envPortMapping},
		},
		&urfave.StringFlag{
			Name: "relay",
			Usage: "reach this host through the relay `KEY@HOST:PORT` (another user's smvs-hostd that runs with --relay-for this identity): " +
				"keep a connection open to it, and publish its address and key instead of this host's",
			EnvVars: []string{envRelay},
		},
		&urfave.StringSliceFlag{
			Name:    "relay-for",
			Usage:   "relay for the host of the user with identity `KEY` (smvs1…), which keeps a connection open to this one; repeat for more",
			EnvVars: []string{envRelayFor},
		},
		&urfave.BoolFlag{
			Name:  "check-reach",
			Usage: "start, ask the first directory to dial this host back, say whether others can reach it, and stop",
		},
		&urfave.StringFlag{
			Name: "dht",
			Usage: "with the mainline DHT, `MODE` publish puts this host's record's pointer there; on also looks up there " +
				"the keys no directory has; only looks keys up there and in no directory; off does neither",
			Value:   host.DHTOff.String(),
			EnvVars: []string{envDHT},
		},
		&urfave.StringFlag{
			Name:        "dht-listen",
			Usage:       "run the DHT node on UDP `ADDR` (host:port)",
			DefaultText: "the --listen host, port 0",
			EnvVars:     []string{envDHTListen},
		},
		&urfave.StringSliceFlag{
			Name:        "dht-bootstrap",
			Usage:       "join the DHT through the node at `ADDR` (host:port); repeat for more",
			DefaultText: strings.Join(dht.DefaultBootstrap, ", "),
			EnvVars:     []string{envDHTBoot},
		},
		&urfave.BoolFlag{
			Name:    "dht-serve",
			Usage:   "answer other DHT nodes and keep their items (at most 4096), as a full node; else only ask",
			EnvVars: []string{envDHTServe},
		},
		&urfave.BoolFlag{
			Name:  "health",
			Usage: "start nothing: ask the host serving the socket whether it answers, and exit 0 if it does (a container's health check)",
		},
		cli.LogLevelFlag(envLogLevel),
		cli.MetricsFlag(envMetrics),
	)
	return &urfave.App{
		Name:      "smvs-hostd",
		Usage:     "run the SMVS host for this identity",
		UsageText: "smvs-hostd [--listen ADDR] [--advertise ADDR] [--dir URL] [--name NAME] [options]",
		Description: "Receives sealed messages from other hosts over QUIC and stores them encrypted,\n" +
			"delivers this identity's messages with retries, and serves its devices (smvs-send,\n" +
			"smvs-recv) on a unix socket. Prints one line on standard output once it serves:\n" +
			"  smvs-hostd: listening on ADDR id smvs1... socket PATH\n" +
			"then serves until SIGTERM or SIGINT, and exits 0.",
		Flags: flags,
		Action: func(c *urfave.Context) error {
			cfg, err := parseConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("health") {
				return checkHealth(ctx, c, cfg.host.Socket)
			}
			return serve(ctx, c, cfg)
		},
	}
}

// config is what the flags say.
type config struct {
	host       host.Config
	agent      string // smvs-agent's socket; "" to read the identity file
	legacyData string // where an older version kept the store by default; "" with --data
	logLevel   slog.Level
	metrics    string // where to serve the metrics; "" for nowhere
	checkReach bool   // check whether others can reach the host, and stop
}

// parseConfig checks the flags: any error is a usage error, and nothing
// is read or made yet.
func parseConfig(c *urfave.Context) (*config, error) {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return nil, err
	}
	cfg := &config{agent: c.Path("agent"), checkReach: c.Bool("check-reach"), host: host.Config{
		Listen:      c.String("listen"),
		Advertise:   c.String("advertise"),
		PeerRate:    c.Float64("peer-rate"),
		PeerBurst:   c.Int("peer-burst"),
		PeerStreams: c.Int("peer-streams"),

		MaxConns:        c.Int("max-connections"),
		MaxConnsPerAddr: c.Int("max-connections-per-address"),
	}}
	h := &cfg.host
	listenHost, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return nil, cli.UsageErrorf(c, "invalid --listen address %q: want host:port, as 127.0.0.1:7447 or :7447", h.Listen)
	}
	if r := c.String("relay"); r != "" {
		if h.Relay, err = host.ParseRelay(r); err != nil {
			return nil, cli.UsageErrorf(c, "--relay: %w", err)
		}
		if h.Advertise != "" {
			return nil, cli.UsageErrorf(c, "--relay and --advertise: a host reached through a relay publishes the relay's address; give one of them")
		}
	}
	for _, k := range c.StringSlice("relay-for") {
		key, err := identity.ParsePublicKey(k)
		if err != nil || key.Kind() != identity.KindIdentity {
			return nil, cli.UsageErrorf(c, "--relay-for %q: want a user's identity key, smvs1…", k)
		}
		h.RelayFor = append(h.RelayFor, key)
	}
	if h.Advertise != "" {
		if err := contacts.CheckHost(h.Advertise); err != nil {
			return nil, cli.UsageErrorf(c, "--advertise: %w", err)
		}
	} else if ip := net.ParseIP(listenHost); h.Relay == nil && (listenHost == "" || ip != nil && ip.IsUnspecified()) {
		return nil, cli.UsageErrorf(c, "--listen %s takes every address: say where other hosts reach this one with --advertise HOST:PORT", h.Listen)
	}
	if name := c.String("name"); name != "" {
		if h.Name, err = names.Normalize(name); err != nil {
			return nil, cli.UsageErrorf(c, "--name: %w", err)
		}
		if h.Name != name {
			cli.Warningf(c, "publishing %q as %q, the form names take in the directory", name, h.Name)
		}
	}
	if h.MaxMessage, err = parseSize(c.String("max-message")); err != nil || h.MaxMessage == 0 {
		return nil, cli.UsageErrorf(c, "invalid --max-message %q: want a size such as 64MiB", c.String("max-message"))
	}
	if h.MaxMessage > host.MaxMessageLimit {
		return nil, cli.UsageErrorf(c, "--max-message %s is over the limit of %d bytes", c.String("max-message"), host.MaxMessageLimit)
	}
	if q := c.String("quota"); q != "" {
		if h.Quota, err = parseSize(q); err != nil {
			return nil, cli.UsageErrorf(c, "invalid --quota %q: want a size such as 10GiB", q)
		}
	}
	for _, d := range []struct {
		flag string
		v    *time.Duration
	}{{"retry-for", &h.RetryFor}, {"backoff-min", &h.BackoffMin}, {"backoff-max", &h.BackoffMax}} {
		if *d.v, err = cli.ParseDuration(c.String(d.flag)); err != nil {
			return nil, cli.UsageErrorf(c, "invalid --%s: %v, as 7d, 36h or 200ms", d.flag, err)
		}
	}
	switch {
	case h.BackoffMax < h.BackoffMin:
		return nil, cli.UsageErrorf(c, "--backoff-max %s is below --backoff-min %s", h.BackoffMax, h.BackoffMin)
	case h.PeerRate <= 0 || math.IsNaN(h.PeerRate) || math.IsInf(h.PeerRate, 0):
		return nil, cli.UsageErrorf(c, "invalid --peer-rate %v: want a positive number of messages a second", h.PeerRate)
	case h.PeerBurst < 1:
		return nil, cli.UsageErrorf(c, "invalid --peer-burst %d: want at least 1", h.PeerBurst)
	case h.PeerStreams < 1:
		return nil, cli.UsageErrorf(c, "invalid --peer-streams %d: want at least 1", h.PeerStreams)
	case h.MaxConns < 1:
		return nil, cli.UsageErrorf(c, "invalid --max-connections %d: want at least 1", h.MaxConns)
	case h.MaxConnsPerAddr < 1:
		return nil, cli.UsageErrorf(c, "invalid --max-connections-per-address %d: want at least 1", h.MaxConnsPerAddr)
	}
	if err := parseStrangerLimits(c, h); err != nil {
		return nil, err
	}
	if h.PeerDeletes, err = host.ParsePeerDeletes(c.String("peer-deletes")); err != nil {
		return nil, cli.UsageErrorf(c, "--peer-deletes: %w", err)
	}
	if h.PortMapping, err = host.ParsePortMapping(c.String("port-mapping")); err != nil {
		return nil, cli.UsageErrorf(c, "--port-mapping: %w", err)
	}
	if cfg.logLevel, err = cli.LogLevel(c); err != nil {
		return nil, err
	}
	if cfg.metrics, err = cli.MetricsAddr(c); err != nil {
		return nil, err
	}
	if err := parseDHT(c, h, listenHost); err != nil {
		return nil, err
	}
	if h.Directories, err = cli.Directories(c); err != nil {
		return nil, err
	}
	if h.Home, err = cli.Home(c); err != nil {
		return nil, err
	}
	if h.Socket, err = cli.SocketPath(c); err != nil {
		return nil, err
	}
	if h.DataDir, cfg.legacyData, err = dataDir(c, h.Home); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseDHT sets the DHT's settings from --dht and its companions.
func parseDHT(c *urfave.Context, h *host.Config, listenHost string) error {
	var err error
	if h.DHT, err = host.ParseDHTMode(c.String("dht")); err != nil {
		return cli.UsageErrorf(c, "--dht: %w", err)
	}
	h.DHTNode = dht.Config{Listen: c.String("dht-listen"), Bootstrap: c.StringSlice("dht-bootstrap"), Serve: c.Bool("dht-serve")}
	if h.DHTNode.Listen == "" {
		h.DHTNode.Listen = net.JoinHostPort(listenHost, "0")
	}
	if _, _, err := net.SplitHostPort(h.DHTNode.Listen); err != nil {
		return cli.UsageErrorf(c, "invalid --dht-listen address %q: want host:port", h.DHTNode.Listen)
	}
	for _, b := range h.DHTNode.Bootstrap {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return cli.UsageErrorf(c, "invalid --dht-bootstrap address %q: want host:port", b)
		}
	}
	return nil
}

// parseStrangerLimits sets the limits strangers share from their flags,
// where 0 or off is host.NoLimit.
func parseStrangerLimits(c *urfave.Context, h *host.Config) error {
	switch r := c.String("stranger-rate"); r {
	case "0", "off":
		h.StrangerRate = host.NoLimit
	default:
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return cli.UsageErrorf(c, "invalid --stranger-rate %q: want a positive number of messages a second, or off", r)
		}
		h.StrangerRate = v
	}
	h.StrangerBurst, h.StrangerStreams = c.Int("stranger-burst"), c.Int("stranger-streams")
	switch {
	case h.StrangerBurst < 1:
		return cli.UsageErrorf(c, "invalid --stranger-burst %d: want at least 1", h.StrangerBurst)
	case h.StrangerStreams < 1:
		return cli.UsageErrorf(c, "invalid --stranger-streams %d: want at least 1", h.StrangerStreams)
	}
	for _, q := range []struct {
		flag string
		v    *int64
	}{{"stranger-quota", &h.StrangerQuota}, {"stranger-key-quota", &h.StrangerKeyQuota}} {
		s := c.String(q.flag)
		n, err := parseSize(s)
		switch {
		case s == "off" || err == nil && n == 0:
			*q.v = host.NoLimit
		case err != nil:
			return cli.UsageErrorf(c, "invalid --%s %q: want a size such as 64MiB, or off", q.flag, s)
		default:
			*q.v = n
		}
	}
	return nil
}

// parseSize parses a number of bytes with an optional unit: B, KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// serve runs the host until ctx is done.
func serve(ctx context.Context, c *urfave.Context, cfg *config) error {
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: cfg.logLevel}))
	keys, release, err := openKeys(c, cfg.agent, log)
	if err != nil {
		return err
	}
	defer release()
	hc := cfg.host
	hc.Keys, hc.Log = keys, log
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit())
	}
	if err := checkName(ctx, hc); err != nil {
		return err
	}
	if err := moveLegacyStore(log, hc.DataDir, cfg.legacyData); err != nil {
		return err
	}
	if cfg.metrics != "" {
		reg, srv, err := metrics.Start(cfg.metrics, log)
		if err != nil {
			return cli.Errorf("serving the metrics: %w", err).WithHintf("choose another address with --metrics")
		}
		defer srv.Close(context.Background())
		hc.Metrics = reg
	}
	h, err := host.Start(hc)
	if err != nil {
		return startError(err, hc)
	}
	fmt.Fprintf(c.App.Writer, "smvs-hostd: listening on %s id %s socket %s\n", h.Addr(), keys.Public(), h.Socket())

	var reachErr error
	if cfg.checkReach {
		reachErr = checkReach(ctx, c, h)
	} else {
		<-ctx.Done()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := h.Shutdown(stopCtx); err != nil {
		log.Error("stopping", "err", err)
		return cli.Errorf("stopping: %w", err)
	}
	return reachErr
}

// memoryLimit is the soft limit of the Go runtime's memory (GOMEMLIMIT):
// what the host needs idle, and room for the frames its read budget lets
// it hold at once (twice the frame limit), each with a decoded copy, and
// one more; at least 40 MiB. Bodies over 1 MiB stream in frames of at
// most host.FrameLimit, so it does not grow with the message size limit.
// Nearing it, the garbage collector runs sooner, rather than letting a
// flood's garbage double the heap first. It is soft: a host never fails
// for it, and the collector takes at most half the CPU when it can't keep
// under it. GOMEMLIMIT in the environment wins.
func memoryLimit() int64 {
	const base, floor = 32 << 20, 40 << 20
	return max(base+6*host.FrameLimit, floor)
}

// checkReach says on standard output whether others can reach h, and
// returns an error with exitUnreachable if not.
func checkReach(ctx context.Context, c *urfave.Context, h *host.Host) error {
	r, err := h.CheckReach(ctx)
	if err != nil {
		return cli.Errorf("checking whether others can reach this host: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "smvs-hostd: %s\n", cli.Escape(r.String()))
	if !r.Reachable || r.Elsewhere {
		return cli.Errorf("others can't reach this host at the address its record gives").WithExitCode(exitUnreachable)
	}
	return nil
}

// healthTimeout bounds --health: a host that takes longer to answer is
// not well.
const healthTimeout = 5 * time.Second

// checkHealth asks the host on socket for a message that is not there: a
// host that answers, from its store, is well.
func checkHealth(ctx context.Context, c *urfave.Context, socket string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	client, err := hostapi.Dial(ctx, socket)
	if err != nil {
		return cli.Errorf("unhealthy: %w", err)
	}
	defer client.Close()
	id := make([]byte, wire.MessageIDSize)
	rand.Read(id)
	_, err = client.Status(ctx, id, 0)
	var hostErr *hostapi.Error
	if !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrNotFound {
		return cli.Errorf("unhealthy: the host on %s did not answer as it should: %v", socket, err)
	}
	fmt.Fprintf(c.App.Writer, "smvs-hostd: healthy: the host on %s answers\n", socket)
	return nil
}

// startError explains why the host did not start.
func startError(err error, hc host.Config) error {
	var op *net.OpError
	switch {
	case errors.Is(err, host.ErrSocketInUse):
		return cli.Errorf("%w", err).WithHintf("is smvs-hostd already running? stop it, or give this host a socket and a store "+
			"of its own (--socket and --data, or another %s)", cli.HomeEnv)
	case errors.Is(err, host.ErrWrongIdentity):
		return cli.Errorf("%w", err).
			WithHintf("the identity file may be another user's: start the host with the identity that made this store, " +
				"and keep the store where it is (another --data starts an empty history)")
	case errors.Is(err, store.ErrInUse):
		return storeInUse(hc.DataDir)
	case errors.As(err, &op) && errors.Is(err, syscall.EADDRINUSE):
		return cli.Errorf("can't listen on %s: %w", hc.Listen, op.Err).
			WithHintf("is another smvs-hostd running? choose another address with --listen")
	}
	return cli.Errorf("%w", err)
}
