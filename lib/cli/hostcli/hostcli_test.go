package hostcli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
)

// result is what a run of a test app did.
type result struct {
	code           int
	stdout, stderr string
}

// runApp runs a command with flags whose action is action, capturing its
// output.
func runApp(flags []urfave.Flag, action urfave.ActionFunc) result {
	var stdout, stderr bytes.Buffer
	app := &urfave.App{Name: "smvs-test", Flags: flags, Action: action, Writer: &stdout, ErrWriter: &stderr}
	code := cli.Run(app, []string{app.Name})
	return result{code, stdout.String(), stderr.String()}
}

func TestNotRunning(t *testing.T) {
	cause := errors.New("the host is not running")
	e := NotRunning(cause)
	if !errors.Is(e, cause) || !strings.Contains(e.Error(), "the host is not running") {
		t.Errorf("NotRunning(%v) = %v", cause, e)
	}
}

// TestDialLayout checks which file Dial takes for a link and what
// its hints say: a directory named host (a store under the old layout)
// is not a link, so the host's own socket is dialled; a bad link file is
// named, and no hint says to remove anything.
func TestDialLayout(t *testing.T) {
	home := t.TempDir()
	t.Setenv(cli.HomeEnv, home)
	t.Setenv(cli.SocketEnv, "")
	dial := func() result {
		return runApp([]urfave.Flag{cli.HomeFlag(), cli.SocketFlag()}, func(c *urfave.Context) error {
			client, err := Dial(context.Background(), c)
			if err == nil {
				client.Close()
			}
			return err
		})
	}
	if err := os.Mkdir(filepath.Join(home, "host"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := dial()
	if r.code != 1 || !strings.Contains(r.stderr, "start smvs-hostd") || strings.Contains(r.stderr, "is a directory") {
		t.Errorf("a directory named host: status %d, stderr:\n%s\nwant the host's socket dialled", r.code, r.stderr)
	}
	for _, tt := range []struct{ name, text string }{{"host", "address nowhere\n"}, {"link", "identity x\n"}} {
		path := filepath.Join(home, tt.name)
		os.RemoveAll(path)
		if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		r = dial()
		if r.code != 1 || !strings.Contains(r.stderr, "error: reading this device's link to its host: "+path) ||
			!strings.Contains(r.stderr, "hint: "+path+" is this device's link to its host") ||
			strings.Contains(r.stderr, "remove") {
			t.Errorf("a bad %s: status %d, stderr:\n%s", tt.name, r.code, r.stderr)
		}
	}
	os.Remove(filepath.Join(home, "link"))
	os.Mkdir(filepath.Join(home, "link"), 0o700)
	r = dial()
	if r.code != 1 || !strings.Contains(r.stderr, "not a regular file") || strings.Contains(r.stderr, "remove") {
		t.Errorf("a directory named link: status %d, stderr:\n%s", r.code, r.stderr)
	}
}
