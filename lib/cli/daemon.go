package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
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

// LogLevel returns the level --log-level names, or a usage error.
func LogLevel(c *urfave.Context) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return 0, UsageErrorf(c, "invalid --log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return level, nil
}
