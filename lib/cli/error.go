package cli

import (
	"fmt"
	"strings"

	urfave "github.com/urfave/cli/v2"
)

// Error is an error for the user to read: a message, the hints that help
// them fix it, and the exit status it gives. Run prints it as
//
//	NAME: error: MESSAGE
//	NAME: hint: HINT
//
// The message and hints are lowercase, with no final period, and never
// contain a secret.
type Error struct {
	err   error
	hints []string
	code  int
}

// Errorf returns an Error with a message formatted as fmt.Errorf does (so
// %w wraps an error errors.Is and errors.As still find), exit status
// ExitFailure and no hint.
func Errorf(format string, a ...any) *Error {
	return &Error{err: fmt.Errorf(format, a...), code: ExitFailure}
}

// UsageErrorf returns an Error for bad flags or arguments, with exit status
// ExitUsage and a hint pointing at the help of c's command.
func UsageErrorf(c *urfave.Context, format string, a ...any) *Error {
	name := c.App.Name
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return Errorf(format, a...).WithExitCode(ExitUsage).WithHintf("see '%s --help'", name)
}

// WithHintf adds a hint line and returns e.
func (e *Error) WithHintf(format string, a ...any) *Error {
	e.hints = append(e.hints, fmt.Sprintf(format, a...))
	return e
}

// WithExitCode sets the exit status and returns e. A status other than
// ExitFailure or ExitUsage must be documented in the command's man page.
func (e *Error) WithExitCode(code int) *Error {
	e.code = code
	return e
}

func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the message as an error, so errors.Is and errors.As find
// what Errorf's %w wrapped.
func (e *Error) Unwrap() error { return e.err }

// Hints returns the hint lines.
func (e *Error) Hints() []string { return e.hints }

// ExitCode returns the exit status; it makes an *Error a urfave.ExitCoder.
func (e *Error) ExitCode() int { return e.code }

// CheckArgs returns a usage error unless c has at least min and at most max
// arguments; max < 0 means no limit.
func CheckArgs(c *urfave.Context, min, max int) error {
	args := c.Args().Slice()
	switch {
	case len(args) < min:
		if c.Command != nil && c.Command.ArgsUsage != "" {
			return UsageErrorf(c, "missing argument: want %s", c.Command.ArgsUsage)
		}
		return UsageErrorf(c, "missing argument")
	case max >= 0 && len(args) > max:
		extra := args[max]
		if strings.HasPrefix(extra, "-") && extra != "-" {
			return UsageErrorf(c, "flag %s after an argument: flags come before arguments", extra)
		}
		return UsageErrorf(c, "unexpected argument %q", extra)
	}
	return nil
}
