// Package cli holds the conventions every SMVS command follows, on top of
// github.com/urfave/cli/v2 (which commands import under the name urfave):
//
//   - Data goes to standard output; every line for the user on standard
//     error reads "NAME: error: …", "NAME: warning: …" or "NAME: hint: …",
//     lowercase, with no final period.
//   - The exit status is ExitOK (0) on success, ExitFailure (1) on failure,
//     ExitUsage (2) for bad flags or arguments, or another code the command
//     documents in its man page (see Error.WithExitCode).
//   - --help prints the help on standard output; an error never prints the
//     help, only a hint pointing at it. A value given to a flag that takes
//     none (--wait=5m) is a usage error whose hint names the flag that
//     takes it, if one's usage mentions it ("how long --wait waits").
//   - --version prints "NAME VERSION" (see Version).
//   - The hidden flag --completion bash|zsh prints a completion script
//     generated from the command's flags and subcommands. A flag whose value
//     is a file sets TakesFile, and completes file names (directories when
//     its placeholder is `DIR`).
//   - SMVS_HOME names the directory of the user's files (see Home).
//
// A command builds its *urfave.App, returns an *Error from its actions for
// anything the user must read, and hands the app to Run:
//
//	func main() { os.Exit(cli.Run(newApp(), os.Args)) }
//
// Flags must not be marked Required (urfave then prints the whole help on
// a missing flag): an action checks them and returns UsageErrorf instead.
package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	urfave "github.com/urfave/cli/v2"
)

// Exit statuses every command shares. A command may document others, given
// with Error.WithExitCode.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command failed; an error says why
	ExitUsage   = 2 // bad flags or arguments; nothing was done
)

// The --help and --version flags and the version line are the same in every
// command; urfave keeps them in package variables.
func init() {
	urfave.HelpFlag = &urfave.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "print this help and exit", DisableDefaultText: true}
	urfave.VersionFlag = &urfave.BoolFlag{Name: "version", Usage: "print the version and exit", DisableDefaultText: true}
	urfave.VersionPrinter = func(c *urfave.Context) {
		fmt.Fprintf(c.App.Writer, "%s %s\n", c.App.Name, c.App.Version)
	}
}

// Run runs app with args (the program name first, as in os.Args), reports
// any error on app.ErrWriter (standard error by default) in the SMVS voice,
// and returns the exit status. Run sets up app for the conventions above:
// app must be new, and is not usable again afterwards.
func Run(app *urfave.App, args []string) int {
	prepare(app, args)
	return report(app, app.Run(args))
}

func prepare(app *urfave.App, args []string) {
	if app.Name == "" && len(args) > 0 {
		app.Name = filepath.Base(args[0])
	}
	if app.Version == "" {
		app.Version = Version()
	}
	app.HideVersion = false
	// Run reports errors and picks the exit status, not urfave.
	app.ExitErrHandler = func(*urfave.Context, error) {}
	switch {
	case len(app.Commands) == 0:
		// Else "help" would be a subcommand, and never a file name.
		app.HideHelpCommand = true
		if app.CustomAppHelpTemplate == "" {
			app.CustomAppHelpTemplate = helpTemplate
		}
	default:
		// Else urfave adds its own, in its own voice; and then it leaves
		// --help to us.
		app.Commands = append(app.Commands, helpCommand())
		app.Flags = append(app.Flags, urfave.HelpFlag)
		if app.CustomAppHelpTemplate == "" {
			app.CustomAppHelpTemplate = commandsHelpTemplate
		}
	}
	app.OnUsageError = usageError(app.Flags)
	hideBoolDefaults(app.Flags)
	for _, c := range app.Commands {
		prepareCommand(c)
	}
	app.Flags = append(app.Flags, completionFlag())
	app.Action = rootAction(app.Action)
}

func prepareCommand(c *urfave.Command) {
	c.OnUsageError = usageError(c.Flags)
	hideBoolDefaults(c.Flags)
	if len(c.Subcommands) > 0 && c.Action == nil {
		c.Action = missingCommand
	}
	for _, sub := range c.Subcommands {
		prepareCommand(sub)
	}
}

// hideBoolDefaults drops the "(default: false)" urfave adds to the help of
// every boolean flag.
func hideBoolDefaults(flags []urfave.Flag) {
	for _, f := range flags {
		if b, ok := f.(*urfave.BoolFlag); ok {
			b.DisableDefaultText = true
		}
	}
}

// helpTemplate is the help of a command with no subcommands: urfave's, less
// "GLOBAL", plus a pointer to the manual.
const helpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{if .UsageText}}{{wrap .UsageText 3}}{{else}}{{.HelpName}}{{if .VisibleFlags}} [options]{{end}}{{if .ArgsUsage}} {{.ArgsUsage}}{{end}}{{end}}{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}{{if .VisibleFlags}}

OPTIONS:{{template "visibleFlagTemplate" .}}{{end}}

The manual has more: man {{.Name}}
`

// commandsHelpTemplate is the help of a command with subcommands: urfave's,
// less the version, "GLOBAL" and the help command (--help is the way it
// shows), plus pointers to each command's help and to the manual.
const commandsHelpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{if .UsageText}}{{wrap .UsageText 3}}{{else}}{{.HelpName}} COMMAND [command options]{{end}}{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}

COMMANDS:{{$cv := offsetCommands .VisibleCommands 5}}{{range .VisibleCommands}}{{if ne .Name "help"}}
   {{$s := join .Names ", "}}{{$s}}{{$sp := subtract $cv (offset $s 3)}}{{indent $sp ""}}{{wrap .Usage $cv}}{{end}}{{end}}{{if .VisibleFlags}}

OPTIONS:{{template "visibleFlagTemplate" .}}{{end}}

Each command has its own help: {{.Name}} COMMAND --help
The manual has more: man {{.Name}}
`

// helpCommand is "NAME help [COMMAND]", as urfave's but in our voice.
func helpCommand() *urfave.Command {
	return &urfave.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "print the help of COMMAND, or this help",
		ArgsUsage: "[COMMAND]",
		HideHelp:  true,
		Action: func(c *urfave.Context) error {
			name := c.Args().First()
			switch {
			case c.NArg() > 1:
				return UsageErrorf(c, "unexpected argument %q", c.Args().Get(1))
			case name == "":
				return urfave.ShowAppHelp(c)
			case c.App.Command(name) == nil:
				return Errorf("unknown command %q", name).WithExitCode(ExitUsage).WithHintf("see '%s --help'", c.App.Name)
			}
			return urfave.ShowCommandHelp(c, name)
		},
	}
}

// rootAction handles --completion, then runs action.
func rootAction(action urfave.ActionFunc) urfave.ActionFunc {
	return func(c *urfave.Context) error {
		if shell := c.String(completionFlagName); shell != "" {
			if c.Args().Present() {
				return UsageErrorf(c, "--completion takes no arguments")
			}
			return writeCompletion(c, shell)
		}
		if action == nil {
			return missingCommand(c)
		}
		return action(c)
	}
}

// missingCommand is the action of a command that only has subcommands.
func missingCommand(c *urfave.Context) error {
	if c.Args().Present() {
		return UsageErrorf(c, "unknown command %q", c.Args().First())
	}
	return UsageErrorf(c, "missing command")
}

// usageError returns the handler that turns urfave's errors parsing flags
// into usage errors, for a command with flags.
func usageError(flags []urfave.Flag) urfave.OnUsageErrorFunc {
	return func(c *urfave.Context, err error, _ bool) error {
		if m := boolValue.FindStringSubmatch(err.Error()); m != nil {
			return boolValueError(c, flags, m[2], m[1])
		}
		return UsageErrorf(c, "%s", flagMessage(err.Error()))
	}
}

var (
	// "-name" for a flag of several letters, in the flag package's errors.
	singleDashLong = regexp.MustCompile(`(^|[\s:])-([[:alnum:]][[:alnum:]_-]+)`)
	flagMessages   = strings.NewReplacer(
		"flag provided but not defined:", "unknown flag",
		"flag needs an argument: ", "missing value for ",
	)
	// The flag package's error for --wait=5m, a value given to a flag
	// that takes none.
	boolValue = regexp.MustCompile(`^invalid boolean value "(.*)" for -([[:alnum:]_-]+): parse error$`)
)

// flagMessage rewords an error of the flag package: "unknown flag --foo"
// rather than "flag provided but not defined: -foo".
func flagMessage(msg string) string {
	return singleDashLong.ReplaceAllString(flagMessages.Replace(msg), "$1--$2")
}

// boolValueError is the usage error for a value given to a flag that takes
// none, as --wait=5m. If a flag that takes a value says in its usage that
// it goes with this one ("how long --wait waits, as DURATION"), the hint
// points at it, with its usage up to the first comma, semicolon or
// parenthesis: that is most likely what the user meant.
func boolValueError(c *urfave.Context, flags []urfave.Flag, name, value string) *Error {
	flag := "--" + name
	if len(name) == 1 {
		flag = "-" + name
	}
	e := UsageErrorf(c, "%s takes no value, but was given %q", flag, value)
	mentions := regexp.MustCompile(`(^|[^[:alnum:]_-])` + regexp.QuoteMeta(flag) + `($|[^[:alnum:]_-])`)
	for _, f := range flags {
		f, ok := f.(urfave.DocGenerationFlag)
		if value == "" || !ok || !f.TakesValue() || !mentions.MatchString(f.GetUsage()) {
			continue
		}
		usage := strings.ReplaceAll(f.GetUsage(), "`", "")
		if i := strings.IndexAny(usage, "(;,"); i > 0 {
			usage = strings.TrimSpace(usage[:i])
		}
		e.hints = append([]string{fmt.Sprintf("did you mean --%s %s? (%s)", f.Names()[0], value, usage)}, e.hints...)
		break
	}
	return e
}

// report prints err, if any, and returns the exit status.
func report(app *urfave.App, err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var hints []string
	var e *Error
	var coder urfave.ExitCoder
	switch {
	case errors.As(err, &e):
		code, hints = e.code, e.hints
	case errors.As(err, &coder):
		code = coder.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(app.ErrWriter, "%s: error: %s\n", app.Name, msg)
	}
	for _, h := range hints {
		fmt.Fprintf(app.ErrWriter, "%s: hint: %s\n", app.Name, h)
	}
	return code
}

// Warningf prints "NAME: warning: …" on the command's standard error.
func Warningf(c *urfave.Context, format string, a ...any) {
	fmt.Fprintf(c.App.ErrWriter, "%s: warning: %s\n", c.App.Name, fmt.Sprintf(format, a...))
}

// Hintf prints "NAME: hint: …" on the command's standard error, to follow a
// warning.
func Hintf(c *urfave.Context, format string, a ...any) {
	fmt.Fprintf(c.App.ErrWriter, "%s: hint: %s\n", c.App.Name, fmt.Sprintf(format, a...))
}
