package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

// actionApp is a command with flags whose action is action.
func actionApp(flags []urfave.Flag, action urfave.ActionFunc) *urfave.App {
	return &urfave.App{Name: "smvs-test", Flags: flags, Action: action}
}

func TestHome(t *testing.T) {
	for _, tt := range []struct {
		name               string
		flag               bool
		args               []string
		smvsHome, xdg, hom string
		want               string
	}{
		{"flag", true, []string{"--home", "/flag"}, "/env", "/xdg", "/home/u", "/flag"},
		{"env", true, nil, "/env", "/xdg", "/home/u", "/env"},
		{"env without the flag", false, nil, "/env", "/xdg", "/home/u", "/env"},
		{"relative env", true, nil, "rel", "/xdg", "/home/u", "rel"},
		{"xdg", true, nil, "", "/xdg", "/home/u", filepath.Join("/xdg", "smvs")},
		{"relative xdg is ignored", true, nil, "", "xdg", "/home/u", filepath.Join("/home/u", ".config", "smvs")},
		{"home", false, nil, "", "", "/home/u", filepath.Join("/home/u", ".config", "smvs")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(HomeEnv, tt.smvsHome)
			t.Setenv("XDG_CONFIG_HOME", tt.xdg)
			t.Setenv("HOME", tt.hom)
			var flags []urfave.Flag
			if tt.flag {
				flags = append(flags, HomeFlag())
			}
			app := actionApp(flags, func(c *urfave.Context) error {
				home, err := Home(c)
				if err != nil {
					return err
				}
				id, err := IdentityPath(c)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\n%s\n", home, id)
				return nil
			})
			r := runApp(app, tt.args...)
			want := tt.want + "\n" + filepath.Join(tt.want, "identity") + "\n"
			if r.code != 0 || r.stdout != want {
				t.Errorf("status %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, want, r.stderr)
			}
		})
	}
}

func TestHomeUnknown(t *testing.T) {
	t.Setenv(HomeEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "")
	r := runApp(actionApp(nil, func(c *urfave.Context) error {
		_, err := IdentityPath(c)
		return err
	}))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "error: can't find the SMVS home directory") ||
		!strings.Contains(r.stderr, "hint: set SMVS_HOME") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestSocketPath(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		args                  []string
		socket, smvsHome, run string
		want                  string
	}{
		{"flag", []string{"--socket", "/flag.sock"}, "/env.sock", "/env", "/runtime", "/flag.sock"},
		{"env", nil, "/env.sock", "/env", "/runtime", "/env.sock"},
		{"home flag", []string{"--home", "/flaghome"}, "", "", "/runtime", filepath.Join("/flaghome", "host.sock")},
		{"home env", nil, "", "/env", "/runtime", filepath.Join("/env", "host.sock")},
		{"runtime dir", nil, "", "", "/runtime", filepath.Join("/runtime", "smvs", "host.sock")},
		{"relative runtime dir is ignored", nil, "", "", "run", filepath.Join("/xdg", "smvs", "host.sock")},
		{"default home", nil, "", "", "", filepath.Join("/xdg", "smvs", "host.sock")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(SocketEnv, tt.socket)
			t.Setenv(HomeEnv, tt.smvsHome)
			t.Setenv("XDG_RUNTIME_DIR", tt.run)
			t.Setenv("XDG_CONFIG_HOME", "/xdg")
			app := actionApp([]urfave.Flag{SocketFlag(), HomeFlag()}, func(c *urfave.Context) error {
				path, err := SocketPath(c)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, path)
				return nil
			})
			r := runApp(app, tt.args...)
			if r.code != 0 || r.stdout != tt.want+"\n" {
				t.Errorf("status %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, tt.want+"\n", r.stderr)
			}
		})
	}
}
