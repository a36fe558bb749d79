package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

func TestHostNotRunning(t *testing.T) {
	cause := errors.New("the host is not running")
	e := HostNotRunning(cause)
	if !errors.Is(e, cause) || !strings.Contains(e.Error(), "the host is not running") {
		t.Errorf("HostNotRunning(%v) = %v", cause, e)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestDialHostLayout checks which file DialHost takes for a link and what
// its hints say: a directory named host (a store under the old layout)
// is not a link, so the host's own socket is dialled; a bad link file is
// named, and no hint says to remove anything.
func TestDialHostLayout(t *testing.T) {
	home := t.TempDir()
	t.Setenv(HomeEnv, home)
	t.Setenv(SocketEnv, "")
	dial := func() result {
		return runApp(actionApp([]urfave.Flag{HomeFlag(), SocketFlag()}, func(c *urfave.Context) error {
			client, err := DialHost(context.Background(), c)
			if err == nil {
				client.Close()
			}
			return err
		}))
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
