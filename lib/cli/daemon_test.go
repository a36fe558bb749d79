package cli

import (
	"io"
	"log/slog"
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
