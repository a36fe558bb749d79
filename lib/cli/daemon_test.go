package cli

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

func TestLogLevel(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want slog.Level
		ok   bool
	}{
		{nil, slog.LevelInfo, true},
		{[]string{"--log-level", "debug"}, slog.LevelDebug, true},
		{[]string{"--log-level", "WARN"}, slog.LevelWarn, true},
		{[]string{"--log-level", "loud"}, 0, false},
	} {
		var got slog.Level
		var err error
		app := &urfave.App{
			Name:      "test",
			Flags:     []urfave.Flag{LogLevelFlag("SMVS_TEST_LOG_LEVEL")},
			Writer:    io.Discard,
			ErrWriter: io.Discard,
			Action: func(c *urfave.Context) error {
				got, err = LogLevel(c)
				return nil
			},
		}
		if runErr := app.Run(append([]string{"test"}, tt.args...)); runErr != nil {
			t.Fatal(runErr)
		}
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: LogLevel = %v, %v", tt.args, got, err)
		}
	}
}

// metricsAddr runs an app with --metrics on args and returns what
// MetricsAddr made of it, and the app's own error.
func metricsAddr(args ...string) (addr string, err, runErr error) {
	app := &urfave.App{
		Name:      "test",
		Flags:     []urfave.Flag{MetricsFlag("SMVS_TEST_METRICS")},
		Writer:    io.Discard,
		ErrWriter: io.Discard,
		Action: func(c *urfave.Context) error {
			addr, err = MetricsAddr(c)
			return nil
		},
	}
	runErr = app.Run(append([]string{"test"}, args...))
	return addr, err, runErr
}

func TestMetricsAddr(t *testing.T) {
	for _, tt := range []struct {
		arg, want string
		ok        bool
	}{
		{"", "", true},
		{"9447", "127.0.0.1:9447", true},
		{":9447", "127.0.0.1:9447", true},
		{"0", "127.0.0.1:0", true},
		{"127.0.0.1:9447", "127.0.0.1:9447", true},
		{"0.0.0.0:9447", "0.0.0.0:9447", true},
		{"[::1]:9447", "[::1]:9447", true},
		{"localhost:9447", "localhost:9447", true},
		{"65536", "", false},
		{"127.0.0.1", "", false},
		{"127.0.0.1:http", "", false},
		{"127.0.0.1:", "", false},
		{"-1", "", false},
	} {
		var args []string
		if tt.arg != "" {
			args = []string{"--metrics", tt.arg}
		}
		got, err, runErr := metricsAddr(args...)
		if runErr != nil {
			t.Fatal(runErr)
		}
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("--metrics %q: MetricsAddr = %q, %v", tt.arg, got, err)
		}
	}
}

// FuzzMetricsAddr checks that --metrics yields a host:port with a port,
// on loopback when only a port is given, or a usage error.
func FuzzMetricsAddr(f *testing.F) {
	for _, s := range []string{"9447", ":9447", "0.0.0.0:9447", "[::1]:0", "127.0.0.1", "a:b:c", "[::1", "00009447"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		got, err, runErr := metricsAddr("--metrics=" + arg)
		if runErr != nil || err != nil || arg == "" {
			return
		}
		host, port, serr := net.SplitHostPort(got)
		if serr != nil || host == "" {
			t.Fatalf("--metrics %q gave %q", arg, got)
		}
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			t.Fatalf("--metrics %q gave port %q", arg, port)
		}
		if !strings.Contains(arg, ":") && host != "127.0.0.1" {
			t.Fatalf("--metrics %q (a port) gave host %q", arg, host)
		}
	})
}
