package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

// result is what a run of a test app did.
type result struct {
	code           int
	stdout, stderr string
}

// runApp runs app with args after the program name, capturing its output.
func runApp(app *urfave.App, args ...string) result {
	var stdout, stderr bytes.Buffer
	app.Writer, app.ErrWriter = &stdout, &stderr
	code := Run(app, append([]string{app.Name}, args...))
	return result{code, stdout.String(), stderr.String()}
}

// testApp is a command with no subcommands whose action returns err.
func testApp(err error) *urfave.App {
	return &urfave.App{
		Name:      "smvs-test",
		Usage:     "test the conventions",
		ArgsUsage: "[FILE]",
		Flags: []urfave.Flag{
			&urfave.PathFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE`", TakesFile: true},
			&urfave.IntFlag{Name: "count", Usage: "do it `N` times"},
			&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "say less"},
		},
		Action: func(c *urfave.Context) error {
			if err := CheckArgs(c, 0, 1); err != nil {
				return err
			}
			return err
		},
	}
}

// treeApp is a command with nested subcommands.
func treeApp() *urfave.App {
	ok := func(c *urfave.Context) error {
		fmt.Fprintf(c.App.Writer, "ran %s\n", c.Command.HelpName)
		return nil
	}
	return &urfave.App{
		Name:  "smvs-tree",
		Usage: "test subcommands",
		Flags: []urfave.Flag{&urfave.PathFlag{Name: "dir", Usage: "use `DIR`", TakesFile: true}},
		Commands: []*urfave.Command{
			{
				Name:    "publish",
				Aliases: []string{"pub"},
				Usage:   "publish a record",
				Flags: []urfave.Flag{
					&urfave.PathFlag{Name: "record", Usage: "read the record from `FILE`", TakesFile: true},
					&urfave.BoolFlag{Name: "dry-run", Usage: "don't: say what it would do"},
				},
				Action: ok,
			},
			{
				Name:  "contact",
				Usage: "manage contacts",
				Subcommands: []*urfave.Command{
					{Name: "pin", Usage: "pin a contact's key", Flags: []urfave.Flag{&urfave.StringFlag{Name: "key", Usage: "the `KEY`"}}, Action: ok},
					{Name: "secret", Usage: "not for completion", Hidden: true, Action: ok},
				},
			},
		},
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		args []string
		want int
	}{
		{"success", nil, nil, ExitOK},
		{"plain error", errors.New("it broke"), nil, ExitFailure},
		{"Errorf", Errorf("it broke"), nil, ExitFailure},
		{"wrapped Error", fmt.Errorf("context: %w", Errorf("it broke").WithExitCode(12)), nil, 12},
		{"documented code", Errorf("queued, not delivered").WithExitCode(3), nil, 3},
		{"urfave exit", urfave.Exit("gone", 4), nil, 4},
		{"unknown flag", nil, []string{"--bogus"}, ExitUsage},
		{"unknown short flag", nil, []string{"-z"}, ExitUsage},
		{"missing flag value", nil, []string{"--output"}, ExitUsage},
		{"bad flag value", nil, []string{"--count", "many"}, ExitUsage},
		{"too many arguments", nil, []string{"a", "b"}, ExitUsage},
		{"flag after argument", nil, []string{"a", "-q"}, ExitUsage},
		{"help", errors.New("not run"), []string{"--help"}, ExitOK},
		{"version", errors.New("not run"), []string{"--version"}, ExitOK},
		{"help is not a command", nil, []string{"help"}, ExitOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(testApp(tt.err), tt.args...)
			if r.code != tt.want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	err := Errorf("key file %s is broken", "id").WithHintf("restore it from %s", "a backup").WithHintf("or make a new one")
	r := runApp(testApp(err))
	want := "smvs-test: error: key file id is broken\n" +
		"smvs-test: hint: restore it from a backup\n" +
		"smvs-test: hint: or make a new one\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}

	r = runApp(testApp(errors.New("plain")))
	if r.stderr != "smvs-test: error: plain\n" {
		t.Errorf("plain error: stderr %q", r.stderr)
	}

	r = runApp(testApp(urfave.Exit("", 5)))
	if r.code != 5 || r.stderr != "" {
		t.Errorf("silent exit: status %d, stderr %q", r.code, r.stderr)
	}
}

func TestErrorWraps(t *testing.T) {
	base := os.ErrNotExist
	err := Errorf("reading: %w", base).WithHintf("hint")
	if !errors.Is(err, base) {
		t.Error("errors.Is does not find the wrapped error")
	}
	var e *Error
	if !errors.As(fmt.Errorf("outer: %w", err), &e) || e.ExitCode() != ExitFailure || len(e.Hints()) != 1 {
		t.Errorf("errors.As: %+v", e)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"-z"}, "unknown flag -z"},
		{[]string{"--output"}, "missing value for --output"},
		{[]string{"--count", "many"}, `invalid value "many" for flag --count`},
		{[]string{"--quiet=yes"}, `--quiet takes no value, but was given "yes"`},
		{[]string{"-q=no"}, `-q takes no value, but was given "no"`},
		{[]string{"a", "b"}, `unexpected argument "b"`},
		{[]string{"a", "--quiet"}, "flag --quiet after an argument: flags come before arguments"},
		{[]string{"--completion", "fish"}, `unknown shell "fish" for --completion: want bash or zsh`},
		{[]string{"--completion", "bash", "x"}, "--completion takes no arguments"},
	} {
		r := runApp(testApp(nil), tt.args...)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if r.code != ExitUsage || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "smvs-test: error: "+tt.message) ||
			lines[1] != "smvs-test: hint: see 'smvs-test --help'" {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 2, %q and a hint to see --help", tt.args, r.code, r.stderr, tt.message)
		}
		if r.stdout != "" {
			t.Errorf("%q: a usage error printed on stdout:\n%s", tt.args, r.stdout)
		}
	}
}

// A value given to a boolean flag is a usage error that points at the flag
// that takes it, if one says it goes with the boolean one.
func TestBoolFlagValue(t *testing.T) {
	waitApp := func() *urfave.App {
		app := testApp(nil)
		app.Flags = append(app.Flags,
			&urfave.BoolFlag{Name: "wait", Usage: "wait until it is done"},
			&urfave.BoolFlag{Name: "wait-more", Usage: "more than --wait"},
			&urfave.DurationFlag{Name: "timeout", Usage: "how long --wait waits, as `DURATION` (implies --wait)"})
		return app
	}
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--wait=5m"}, "smvs-test: error: --wait takes no value, but was given \"5m\"\n" +
			"smvs-test: hint: did you mean --timeout 5m? (how long --wait waits)\n" +
			"smvs-test: hint: see 'smvs-test --help'\n"},
		{[]string{"--wait-more=1h"}, "smvs-test: error: --wait-more takes no value, but was given \"1h\"\n" +
			"smvs-test: hint: see 'smvs-test --help'\n"},
		{[]string{"--quiet=5m"}, "smvs-test: error: --quiet takes no value, but was given \"5m\"\n" +
			"smvs-test: hint: see 'smvs-test --help'\n"},
	} {
		r := runApp(waitApp(), tt.args...)
		if r.code != ExitUsage || r.stderr != tt.stderr {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 2, stderr:\n%s", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
	r := runApp(treeApp(), "publish", "--dry-run=yes")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "error: --dry-run takes no value") {
		t.Errorf("subcommand: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestCheckArgs(t *testing.T) {
	app := testApp(nil)
	app.Action = func(c *urfave.Context) error { return CheckArgs(c, 2, 2) }
	r := runApp(app, "a")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "error: missing argument: want [FILE]") {
		t.Errorf("too few: status %d, stderr:\n%s", r.code, r.stderr)
	}
	app = testApp(nil)
	app.Action = func(c *urfave.Context) error { return CheckArgs(c, 1, -1) }
	if r := runApp(app, "a", "b", "c", "d"); r.code != ExitOK {
		t.Errorf("no maximum: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	r := runApp(testApp(errors.New("not run")), "--help")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("--help: status %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"USAGE:", "smvs-test [options] [FILE]", "OPTIONS:", "--output FILE, -o FILE", "--help, -h", "--version", "man smvs-test"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"GLOBAL", "(default: false)", "--completion", "COMMANDS"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("--help output has %q:\n%s", unwanted, r.stdout)
		}
	}
}

func TestSubcommands(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string // a part of it
		stderr string // all of it
	}{
		{[]string{"publish"}, 0, "ran smvs-tree publish", ""},
		{[]string{"pub", "--dry-run"}, 0, "ran smvs-tree publish", ""},
		{[]string{"contact", "pin"}, 0, "ran smvs-tree contact pin", ""},
		{[]string{"publish", "--help"}, 0, "--record FILE", ""},
		{[]string{"help", "publish"}, 0, "--record FILE", ""},
		{[]string{"--help"}, 0, "publish, pub", ""},
		{[]string{}, 2, "", "smvs-tree: error: missing command\nsmvs-tree: hint: see 'smvs-tree --help'\n"},
		{[]string{"unpublish"}, 2, "", "smvs-tree: error: unknown command \"unpublish\"\nsmvs-tree: hint: see 'smvs-tree --help'\n"},
		{[]string{"contact"}, 2, "", "smvs-tree: error: missing command\nsmvs-tree: hint: see 'smvs-tree contact --help'\n"},
		{[]string{"contact", "forget"}, 2, "", "smvs-tree: error: unknown command \"forget\"\nsmvs-tree: hint: see 'smvs-tree contact --help'\n"},
		{[]string{"publish", "--bogus"}, 2, "", "smvs-tree: error: unknown flag --bogus\nsmvs-tree: hint: see 'smvs-tree publish --help'\n"},
		{[]string{"contact", "pin", "--key"}, 2, "", "smvs-tree: error: missing value for --key\nsmvs-tree: hint: see 'smvs-tree contact pin --help'\n"},
	} {
		r := runApp(treeApp(), tt.args...)
		if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || r.stderr != tt.stderr {
			t.Errorf("%q: status %d, stdout:\n%s\nstderr:\n%s\nwant status %d, stdout with %q, stderr:\n%s",
				tt.args, r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
		}
		if tt.code != 0 && r.stdout != "" {
			t.Errorf("%q: an error printed on stdout:\n%s", tt.args, r.stdout)
		}
	}
}

// The help of a command with subcommands is in the same voice as the
// others, and points at each command's help and at the manual.
func TestSubcommandsHelp(t *testing.T) {
	r := runApp(treeApp(), "--help")
	for _, want := range []string{"smvs-tree COMMAND [command options]", "publish, pub", "--help, -h",
		"Each command has its own help: smvs-tree COMMAND --help", "The manual has more: man smvs-tree"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"VERSION", "GLOBAL", "help, h", "Shows a list"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("--help has %q:\n%s", unwanted, r.stdout)
		}
	}
	if r := runApp(treeApp(), "help"); r.code != 0 || !strings.Contains(r.stdout, "Each command has its own help") {
		t.Errorf("help: status %d, stdout:\n%s", r.code, r.stdout)
	}
	r = runApp(treeApp(), "help", "unpublish")
	if want := "smvs-tree: error: unknown command \"unpublish\"\nsmvs-tree: hint: see 'smvs-tree --help'\n"; r.code != ExitUsage || r.stderr != want {
		t.Errorf("help unpublish: status %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}

func TestVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	r := runApp(testApp(nil), "--version")
	if r.code != 0 || r.stdout != "smvs-test v1.2.3\n" || r.stderr != "" {
		t.Errorf("--version: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestVersionFallback(t *testing.T) {
	defer func(v string, f func() (*debug.BuildInfo, bool)) { version, readBuildInfo = v, f }(version, readBuildInfo)
	version = ""
	for _, tt := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, true, "v0.4.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "devel"},
		{&debug.BuildInfo{}, true, "devel"},
		{nil, false, "devel"},
	} {
		readBuildInfo = func() (*debug.BuildInfo, bool) { return tt.info, tt.ok }
		if got := Version(); got != tt.want {
			t.Errorf("build info %+v: Version() = %q, want %q", tt.info, got, tt.want)
		}
	}
	version = "v9.9.9"
	if got := Version(); got != "v9.9.9" {
		t.Errorf("with -X version: Version() = %q", got)
	}
}

func TestWarningAndHint(t *testing.T) {
	app := testApp(nil)
	app.Action = func(c *urfave.Context) error {
		Warningf(c, "the file is %s", "world-readable")
		Hintf(c, "run chmod 600 %s", "it")
		return nil
	}
	r := runApp(app)
	want := "smvs-test: warning: the file is world-readable\nsmvs-test: hint: run chmod 600 it\n"
	if r.code != 0 || r.stderr != want {
		t.Errorf("status %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}

func TestFlagMessage(t *testing.T) {
	for in, want := range map[string]string{
		"flag provided but not defined: -bogus":                  "unknown flag --bogus",
		"flag provided but not defined: -z":                      "unknown flag -z",
		"flag needs an argument: -passphrase-fd":                 "missing value for --passphrase-fd",
		`invalid value "-x" for flag -count: parse error`:        `invalid value "-x" for flag --count: parse error`,
		`could not parse "x" as int value from environment var`:  `could not parse "x" as int value from environment var`,
		"flag needs an argument: -o":                             "missing value for -o",
		"invalid boolean flag quiet: parse error, -quiet-really": "invalid boolean flag quiet: parse error, --quiet-really",
	} {
		if got := flagMessage(in); got != want {
			t.Errorf("flagMessage(%q) = %q, want %q", in, got, want)
		}
	}
}
