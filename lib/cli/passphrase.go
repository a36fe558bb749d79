package cli

import (
	"errors"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/passphrase"
)

// The environment twins of the passphrase flags.
const (
	PassphraseFDEnv   = "SMVS_PASSPHRASE_FD"
	PassphraseFileEnv = "SMVS_PASSPHRASE_FILE"
)

// PassphraseFlags returns the flags that say where a passphrase comes from
// instead of the terminal: --passphrase-fd N and --passphrase-file FILE,
// with their environment twins. See PassphraseSource.
func PassphraseFlags() []urfave.Flag {
	return []urfave.Flag{
		&urfave.IntFlag{
			Name:        "passphrase-fd",
			Usage:       "read the passphrase from file descriptor `N`, up to the first newline",
			EnvVars:     []string{PassphraseFDEnv},
			DefaultText: "the terminal",
		},
		&urfave.PathFlag{
			Name:      "passphrase-file",
			Usage:     "read the passphrase from the first line of `FILE`",
			EnvVars:   []string{PassphraseFileEnv},
			TakesFile: true,
		},
	}
}

// PassphraseSource returns where the passphrase flags say a passphrase comes
// from: a file descriptor, a file, or (when neither is set) the terminal.
// Setting both is a usage error.
func PassphraseSource(c *urfave.Context) (passphrase.Source, error) {
	fd, file := c.IsSet("passphrase-fd"), c.Path("passphrase-file")
	switch {
	case fd && file != "":
		return passphrase.Source{}, UsageErrorf(c, "--passphrase-fd and --passphrase-file both given (or $%s and $%s)",
			PassphraseFDEnv, PassphraseFileEnv)
	case fd:
		return passphrase.FD(c.Int("passphrase-fd")), nil
	case file != "":
		return passphrase.File(file), nil
	}
	return passphrase.Source{}, nil
}

// PassphraseError explains an error of package passphrase with the hints
// that help the user fix it. It returns other errors unchanged.
func PassphraseError(err error) error {
	var insecure *passphrase.InsecureFileError
	switch {
	case errors.As(err, &insecure):
		return Errorf("%w", err).WithHintf("if nobody else could have read it, run: chmod 600 %s", shellArg(insecure.Path))
	case errors.Is(err, passphrase.ErrNoTerminal):
		return Errorf("%w", err).WithHintf("give it with --passphrase-fd N or --passphrase-file FILE")
	}
	return err
}
