package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	urfave "github.com/urfave/cli/v2"
)

// SignalContext returns a context done at the first SIGINT or SIGTERM, so
// that a daemon stops cleanly; a second signal kills the process at once.
// The caller calls stop once done.
func SignalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	return ctx, stop
}

// LogLevelFlag is a daemon's --log-level flag, with the environment twin
// env; LogLevel reads it.
func LogLevelFlag(env string) urfave.Flag {
	return &urfave.StringFlag{
		Name:    "log-level",
		Usage:   "log at `LEVEL`: debug, info, warn or error",
		Value:   "info",
		EnvVars: []string{env},
	}
}

// MetricsFlag is --metrics, a daemon's Prometheus endpoint, with its
// environment twin env.
func MetricsFlag(env string) urfave.Flag {
	return &urfave.StringFlag{
		Name:    "metrics",
		Usage:   "serve Prometheus metrics over HTTP on `ADDR`: a port (on 127.0.0.1), or host:port",
		EnvVars: []string{env},
	}
}

// MetricsAddr returns the TCP address --metrics asks to serve metrics on,
// "" if none: a bare port, or one with no host (":9447"), is on loopback,
// 127.0.0.1, as the other machines' access to it is the operator's choice
// ("0.0.0.0:9447"). A malformed one is a usage error.
func MetricsAddr(c *urfave.Context) (string, error) {
	addr := c.String("metrics")
	if addr == "" {
		return "", nil
	}
	if strings.IndexFunc(addr, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
		return "", UsageErrorf(c, "invalid --metrics %q: want a port, or host:port, as 9447 or 127.0.0.1:9447", c.String("metrics"))
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// LogLevel returns the level --log-level names, or a usage error.
func LogLevel(c *urfave.Context) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return 0, UsageErrorf(c, "invalid --log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return level, nil
}
