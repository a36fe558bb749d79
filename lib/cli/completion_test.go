package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

// completionScript returns what app --completion shell prints.
func completionScript(t *testing.T, app *urfave.App, shell string) string {
	t.Helper()
	r := runApp(app, "--completion", shell)
	if r.code != 0 || r.stderr != "" || r.stdout == "" {
		t.Fatalf("--completion %s: status %d, stderr:\n%s", shell, r.code, r.stderr)
	}
	return r.stdout
}

// visibleNames returns every visible flag (with its dashes) and subcommand
// name of app, at any depth.
func visibleNames(app *urfave.App) []string {
	names := []string{"--help", "-h", "--version"}
	flags := func(fs []urfave.Flag) {
		for _, f := range fs {
			for _, n := range f.Names() {
				names = append(names, dashed(n))
			}
		}
	}
	var commands func([]*urfave.Command)
	commands = func(cs []*urfave.Command) {
		for _, c := range cs {
			if c.Hidden {
				continue
			}
			names = append(names, c.Names()...)
			flags(c.Flags)
			commands(c.Subcommands)
		}
	}
	flags(app.Flags)
	commands(app.Commands)
	return names
}

func TestCompletionHasEveryFlag(t *testing.T) {
	for _, newApp := range []func() *urfave.App{func() *urfave.App { return testApp(nil) }, treeApp} {
		for _, shell := range []string{"bash", "zsh"} {
			script := completionScript(t, newApp(), shell)
			for _, name := range visibleNames(newApp()) {
				if !strings.Contains(script, name) {
					t.Errorf("%s --completion %s lacks %q", newApp().Name, shell, name)
				}
			}
			var code []string // the script without its comments
			for _, line := range strings.Split(script, "\n") {
				if !strings.HasPrefix(line, "#") {
					code = append(code, line)
				}
			}
			for _, hidden := range []string{"--completion", "secret", "not for completion"} {
				if strings.Contains(strings.Join(code, "\n"), hidden) {
					t.Errorf("%s --completion %s has the hidden %q", newApp().Name, shell, hidden)
				}
			}
		}
	}
}

func TestCompletionSyntax(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("no %s to check the %s script with", shell, shell)
			continue
		}
		for _, app := range []*urfave.App{testApp(nil), treeApp()} {
			file := filepath.Join(t.TempDir(), "completion")
			if err := os.WriteFile(file, []byte(completionScript(t, app, shell)), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
				t.Errorf("%s -n on the %s script of %s: %v\n%s", shell, shell, app.Name, err, out)
			}
		}
	}
}

// TestZshCompletionAutoloads installs the zsh script as a distribution
// would, as _smvs-tree in a directory of $fpath, and checks that compinit
// binds it to the command and that the function compinit loads from it
// completes at once (stubs stand in for zsh's completion builtins, which
// only run while a word is being completed).
func TestZshCompletionAutoloads(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_smvs-tree"), []byte(completionScript(t, treeApp(), "zsh")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(zsh, "-f", "-c", `fpath=($1 $fpath)
		autoload -U compinit && compinit -u -D
		print -r -- "bound to $_comps[smvs-tree]"
		_arguments() { print -r -- "_arguments $*" }
		_smvs-tree`, "zsh", dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	for _, want := range []string{"bound to _smvs-tree\n", "_arguments -s -C", "--dir"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("zsh printed no %q:\n%s", want, out)
		}
	}
}

// TestBashCompletion runs the bash script as bash would when the user
// presses tab, and checks what it offers.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(t.TempDir(), "completion.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, treeApp(), "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "record.cbor"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		words string // the last one is being completed
		want  string
	}{
		{"smvs-tree ''", "publish pub contact help h"},
		{"smvs-tree pu", "publish pub"},
		{"smvs-tree --", "--dir --help --version"},
		{"smvs-tree --dir ''", "subdir"},
		{"smvs-tree --dir = ''", "subdir"},
		{"smvs-tree publish --", "--record --dry-run --help"},
		{"smvs-tree pub --record ''", "record.cbor subdir"},
		{"smvs-tree pub --record = rec", "record.cbor"},
		{"smvs-tree contact ''", "pin"},
		{"smvs-tree contact pin -", "--key --help -h"},
		{"smvs-tree contact pin --key ''", ""},
	} {
		cmd := exec.Command(bash, "--norc", "-c", `source "$1"; COMP_WORDS=(`+tt.words+`)
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _smvs_tree; printf '%s\n' "${COMPREPLY[@]}" | sort`, "bash", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.words, err, out)
		}
		got := strings.Join(strings.Fields(string(out)), " ")
		want := strings.Fields(tt.want)
		slices.Sort(want)
		if got != strings.Join(want, " ") {
			t.Errorf("completing %s: got %q, want %q", tt.words, got, strings.Join(want, " "))
		}
	}
}
