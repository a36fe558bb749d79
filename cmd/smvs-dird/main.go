// Command smvs-dird is the SMVS directory daemon: it stores self-signed
// records and answers look-ups over HTTPS, as doc/DIRECTORY.md specifies.
// See man/smvs-dird.8.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/directory"
	"smvs/lib/directory/dirstore"
	"smvs/lib/directory/server"
	"smvs/lib/metrics"
	"smvs/lib/tlspin"
)

// The environment twins of the flags.
const (
	envListen         = "SMVS_DIRD_LISTEN"
	envData           = "SMVS_DIRD_DATA"
	envDB             = "SMVS_DIRD_DB"
	envTLSCert        = "SMVS_DIRD_TLS_CERT"
	envTLSKey         = "SMVS_DIRD_TLS_KEY"
	envPlainHTTP      = "SMVS_DIRD_PLAIN_HTTP"
	envMaxLifetime    = "SMVS_DIRD_MAX_LIFETIME"
	envRate           = "SMVS_DIRD_RATE"
	envBurst          = "SMVS_DIRD_BURST"
	envClientIPHeader = "SMVS_DIRD_CLIENT_IP_HEADER"
	envAccessLog      = "SMVS_DIRD_ACCESS_LOG"
	envNoReachCheck   = "SMVS_DIRD_NO_REACH_CHECK"
	envLogLevel       = "SMVS_DIRD_LOG_LEVEL"
	envMetrics        = "SMVS_DIRD_METRICS"
)

const (
	// defaultListen is loopback: serving the world is the operator's choice.
	defaultListen = "127.0.0.1:7440"
	// pinFile is the file in the data directory that holds the pin of the
	// certificate served, for scripts and other replicas' operators.
	pinFile = "pin"
	// shutdownTimeout bounds how long a stop waits for requests in flight.
	shutdownTimeout = 10 * time.Second
	// openTimeout bounds opening the store (connecting to PostgreSQL).
	openTimeout = 30 * time.Second
)

func main() {
	ctx, stop := cli.SignalContext()
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs smvs-dird with args until it fails or ctx is done (SIGINT or
// SIGTERM), and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(ctx)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(ctx context.Context) *urfave.App {
	return &urfave.App{
		Name:  "smvs-dird",
		Usage: "serve an SMVS directory",
		UsageText: "smvs-dird [--listen ADDR] [--data DIR] [--db URL]\n" +
			"          [--tls-cert FILE --tls-key FILE | --plain-http] [options]",
		Description: "Stores self-signed SMVS records and answers look-ups by name and by key over HTTPS\n" +
			"with JSON bodies. Prints one line on standard output once it listens:\n" +
			"  smvs-dird: listening on https://ADDR pin sha256//BASE64\n" +
			"then serves until SIGTERM or SIGINT, and exits 0.",
		Flags: []urfave.Flag{
			&urfave.StringFlag{
				Name:    "listen",
				Usage:   "listen on `ADDR`, host:port; port 0 picks a free port",
				Value:   defaultListen,
				EnvVars: []string{envListen},
			},
			&urfave.PathFlag{
				Name:      "data",
				Usage:     "keep the database, the certificate and the pin in `DIR` (default: $XDG_DATA_HOME/smvs/dird)",
				EnvVars:   []string{envData},
				TakesFile: true,
			},
			&urfave.StringFlag{
				Name:    "db",
				Usage:   "keep records in the PostgreSQL database at `URL` (postgres://…), or the SQLite file sqlite:PATH (default: the SQLite file directory.db in DIR)",
				EnvVars: []string{envDB},
			},
			&urfave.PathFlag{
				Name:      "tls-cert",
				Usage:     "serve the certificate (chain) in PEM `FILE` (default: a self-signed one kept in DIR)",
				EnvVars:   []string{envTLSCert},
				TakesFile: true,
			},
			&urfave.PathFlag{
				Name:      "tls-key",
				Usage:     "the private key of --tls-cert, in PEM `FILE`",
				EnvVars:   []string{envTLSKey},
				TakesFile: true,
			},
			&urfave.BoolFlag{
				Name:    "plain-http",
				Usage:   "serve plain HTTP, only for behind a proxy that terminates TLS",
				EnvVars: []string{envPlainHTTP},
			},
			&urfave.StringFlag{
				Name:    "max-lifetime",
				Usage:   "refuse records valid for longer than `DURATION` (as 90d or 720h)",
				Value:   "90d",
				EnvVars: []string{envMaxLifetime},
			},
			&urfave.Float64Flag{
				Name:    "rate",
				Usage:   "let each client address make `N` requests a second on average; 0 for no limit",
				Value:   server.DefaultRate,
				EnvVars: []string{envRate},
			},
			&urfave.IntFlag{
				Name:    "burst",
				Usage:   "let each client address make `N` requests at once",
				Value:   server.DefaultBurst,
				EnvVars: []string{envBurst},
			},
			&urfave.StringFlag{
				Name:    "client-ip-header",
				Usage:   "take the client's address from `HEADER`, set by a trusted proxy in front (as X-Forwarded-For)",
				EnvVars: []string{envClientIPHeader},
			},
			&urfave.BoolFlag{
				Name:    "access-log",
				Usage:   "log every request with its client address and the name or key it looks up",
				EnvVars: []string{envAccessLog},
			},
			&urfave.BoolFlag{
				Name:    "no-reach-check",
				Usage:   "answer no reach checks (POST /v1/reach: a host asks to be dialled back at its own address)",
				EnvVars: []string{envNoReachCheck},
			},
			&urfave.BoolFlag{
				Name:  "health",
				Usage: "start nothing: ask the directory serving --listen for its health (GET /healthz, pinned), and exit 0 if it is well (a container's health check)",
			},
			cli.LogLevelFlag(envLogLevel),
			cli.MetricsFlag(envMetrics),
		},
		Action: func(c *urfave.Context) error {
			cfg, err := parseConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("health") {
				return checkHealth(ctx, c, cfg)
			}
			return serve(ctx, c, cfg)
		},
	}
}

// config is what the flags say.
type config struct {
	listen            string
	dataDir           string
	db                string
	certFile, keyFile string
	plainHTTP         bool
	maxLifetime       time.Duration
	rate              float64
	burst             int
	clientIPHeader    string
	accessLog         bool
	reachCheck        bool
	logLevel          slog.Level
	metrics           string // where to serve the metrics; "" for nowhere
}

// parseConfig checks the flags: any error is a usage error.
func parseConfig(c *urfave.Context) (*config, error) {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return nil, err
	}
	cfg := &config{
		listen:         c.String("listen"),
		db:             c.String("db"),
		certFile:       c.Path("tls-cert"),
		keyFile:        c.Path("tls-key"),
		plainHTTP:      c.Bool("plain-http"),
		rate:           c.Float64("rate"),
		burst:          c.Int("burst"),
		clientIPHeader: c.String("client-ip-header"),
		accessLog:      c.Bool("access-log"),
		reachCheck:     !c.Bool("no-reach-check"),
	}
	if _, _, err := net.SplitHostPort(cfg.listen); err != nil {
		return nil, cli.UsageErrorf(c, "invalid --listen address %q: want host:port, as 127.0.0.1:7440 or :7440", cfg.listen)
	}
	switch {
	case (cfg.certFile == "") != (cfg.keyFile == ""):
		return nil, cli.UsageErrorf(c, "--tls-cert and --tls-key go together")
	case cfg.plainHTTP && cfg.certFile != "":
		return nil, cli.UsageErrorf(c, "--plain-http can't be used with --tls-cert")
	case cfg.rate < 0 || math.IsNaN(cfg.rate) || math.IsInf(cfg.rate, 0):
		return nil, cli.UsageErrorf(c, "invalid --rate %v: want a number of requests a second, 0 for no limit", cfg.rate)
	case cfg.rate > 0 && cfg.burst < 1:
		return nil, cli.UsageErrorf(c, "invalid --burst %d: want at least 1", cfg.burst)
	case strings.ContainsAny(cfg.clientIPHeader, " :\r\n"):
		return nil, cli.UsageErrorf(c, "invalid --client-ip-header %q: want a header name, as X-Forwarded-For", cfg.clientIPHeader)
	}
	var err error
	if cfg.maxLifetime, err = cli.ParseDuration(c.String("max-lifetime")); err != nil {
		return nil, cli.UsageErrorf(c, "invalid --max-lifetime: %v, as 90d or 720h", err)
	}
	if cfg.logLevel, err = cli.LogLevel(c); err != nil {
		return nil, err
	}
	if cfg.metrics, err = cli.MetricsAddr(c); err != nil {
		return nil, err
	}
	if cfg.dataDir, err = dataDir(c); err != nil {
		return nil, err
	}
	return cfg, nil
}

// dataDir returns the data directory: --data, else smvs/dird in the
// user's data directory ($XDG_DATA_HOME, by default ~/.local/share).
func dataDir(c *urfave.Context) (string, error) {
	if dir := c.Path("data"); dir != "" {
		return dir, nil
	}
	// The XDG spec says to ignore a relative $XDG_DATA_HOME.
	if dir := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "smvs", "dird"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", cli.Errorf("can't find a data directory: $HOME is not set").
			WithHintf("give one with --data DIR or %s", envData)
	}
	return filepath.Join(home, ".local", "share", "smvs", "dird"), nil
}

// serve runs the daemon until ctx is done.
func serve(ctx context.Context, c *urfave.Context, cfg *config) error {
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: cfg.logLevel}))
	warnPassword(c, cfg.db)

	// The store first: an unknown kind of database is a usage error, and
	// nothing is made before it is found.
	openCtx, cancel := context.WithTimeout(ctx, openTimeout)
	store, err := dirstore.Open(openCtx, cfg.db, cfg.dataDir)
	cancel()
	if errors.Is(err, dirstore.ErrUnknownDatabase) {
		return cli.UsageErrorf(c, "invalid --db: %w", err)
	}
	if err != nil {
		return cli.Errorf("opening the store: %w", err)
	}
	defer store.Close()

	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return cli.Errorf("making the data directory: %w", err)
	}
	var cert *tls.Certificate
	if !cfg.plainHTTP {
		if cert, err = loadCertificate(cfg); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		e := cli.Errorf("can't listen on %s: %w", cfg.listen, err)
		if errors.Is(err, syscall.EADDRINUSE) {
			e.WithHintf("is another smvs-dird running? choose another address with --listen")
		}
		return e
	}
	defer ln.Close()

	opts := server.Options{
		Rate:           cfg.rate,
		Burst:          cfg.burst,
		ClientIPHeader: cfg.clientIPHeader,
		Logger:         log,
		AccessLog:      cfg.accessLog,
		ReachCheck:     cfg.reachCheck,
	}
	if cfg.metrics != "" {
		reg, ms, err := metrics.Start(cfg.metrics, log)
		if err != nil {
			return cli.Errorf("serving the metrics: %w", err).WithHintf("choose another address with --metrics")
		}
		defer ms.Close(context.Background())
		opts.Metrics = reg
	}
	dir := &directory.Directory{Store: store, MaxLifetime: cfg.maxLifetime}
	srv := &http.Server{
		Handler:           server.New(dir, opts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// Mostly failed handshakes, with the client's address: not for
		// the default log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	scheme, pin := "http", ""
	if cert != nil {
		scheme, pin = "https", tlspin.Pin(cert.Leaf)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		if err := writePin(filepath.Join(cfg.dataDir, pinFile), pin); err != nil {
			return cli.Errorf("writing the pin: %w", err)
		}
	}
	serveURL := scheme + "://" + ln.Addr().String()
	line := "smvs-dird: listening on " + serveURL
	if pin != "" {
		line += " pin " + pin
	}
	fmt.Fprintln(c.App.Writer, line)
	log.Info("started", "version", c.App.Version, "url", serveURL, "pin", pin, "db", describeDB(cfg.db, cfg.dataDir),
		"max_lifetime", cfg.maxLifetime, "rate", cfg.rate, "burst", cfg.burst, "access_log", cfg.accessLog)

	served := make(chan error, 1)
	go func() {
		if cert != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		log.Error("stopped", "err", err)
		return cli.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		log.Warn("requests still in flight at the shutdown timeout were cut off", "timeout", shutdownTimeout)
		srv.Close()
	}
	if err := store.Close(); err != nil {
		log.Error("closing the store", "err", err)
		return cli.Errorf("closing the store: %w", err)
	}
	log.Info("stopped")
	return nil
}

// loadCertificate returns the certificate --tls-cert and --tls-key name, or
// the self-signed one kept in the data directory.
func loadCertificate(cfg *config) (*tls.Certificate, error) {
	var cert tls.Certificate
	var err error
	if cfg.certFile != "" {
		cert, err = tlspin.Load(cfg.certFile, cfg.keyFile)
	} else {
		cert, err = tlspin.LoadOrCreate(cfg.dataDir)
	}
	if err != nil {
		e := cli.Errorf("loading the TLS certificate: %w", err)
		if cfg.certFile == "" {
			e.WithHintf("remove %s to make a new self-signed certificate, which changes the pin", filepath.Join(cfg.dataDir, tlspin.File))
		}
		return nil, e
	}
	return &cert, nil
}

// healthTimeout bounds --health: a directory that takes longer to answer
// is not well.
const healthTimeout = 5 * time.Second

// checkHealth asks the directory serving cfg.listen, on this machine, for
// its health: its /healthz pings the store. Over HTTPS the certificate
// must be the one whose pin it wrote in the data directory.
func checkHealth(ctx context.Context, c *urfave.Context, cfg *config) error {
	host, port, _ := net.SplitHostPort(cfg.listen) // checked by parseConfig
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: healthTimeout}
	scheme := "http"
	if !cfg.plainHTTP {
		scheme = "https"
		pin, err := os.ReadFile(filepath.Join(cfg.dataDir, pinFile))
		if err != nil {
			return cli.Errorf("unhealthy: no pin to check the directory's certificate with: %w", err)
		}
		tc, err := tlspin.ClientConfig(strings.TrimSpace(string(pin)))
		if err != nil {
			return cli.Errorf("unhealthy: %w", err)
		}
		client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	u := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return cli.Errorf("unhealthy: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return cli.Errorf("unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cli.Errorf("unhealthy: %s answered %s", u, resp.Status)
	}
	fmt.Fprintf(c.App.Writer, "smvs-dird: healthy: %s answers\n", u)
	return nil
}

// writePin writes the pin to path, replacing it whole.
func writePin(path, pin string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(pin+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// describeDB names the store for the log, without user, password or
// parameters.
func describeDB(db, dataDir string) string {
	if db == "" || db == "sqlite:" {
		return "sqlite:" + filepath.Join(dataDir, dirstore.FileName)
	}
	if strings.HasPrefix(db, "sqlite:") {
		return db
	}
	u, err := url.Parse(db)
	if err != nil || u.Host == "" {
		scheme, _, _ := strings.Cut(db, ":")
		return scheme + ":…"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// warnPassword warns when a password is in a --db given on the command
// line, where other users can read it.
func warnPassword(c *urfave.Context, db string) {
	if db == "" || db == os.Getenv(envDB) {
		return
	}
	u, err := url.Parse(db)
	if err != nil {
		return
	}
	_, hasPassword := u.User.Password()
	if hasPassword || u.Query().Has("password") {
		cli.Warningf(c, "the --db URL holds a password, which other users can see in the process list")
		cli.Hintf(c, "put the password in a PostgreSQL password file ($PGPASSFILE or ~/.pgpass), or the URL in %s", envDB)
	}
}
