package cli

import (
	"strings"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/dirclient"
)

// The environment twins of the directory flags.
const (
	DirEnv    = "SMVS_DIR"
	DirPinEnv = "SMVS_DIR_PIN"
)

// DirFlags returns the --dir and --dir-pin flags of the commands that use
// directories, with DirEnv and DirPinEnv as their twins. See Directories.
func DirFlags() []urfave.Flag {
	return []urfave.Flag{
		&urfave.StringSliceFlag{
			Name:    "dir",
			Usage:   "use the directory at `URL`; repeat it (or separate URLs by commas) for several",
			EnvVars: []string{DirEnv},
		},
		&urfave.StringSliceFlag{
			Name:    "dir-pin",
			Usage:   "accept only the directory key whose pin is `PIN`: one for each --dir in order, or one for all",
			EnvVars: []string{DirPinEnv},
		},
	}
}

// Directories returns clients of the directories --dir names, with the
// pins --dir-pin gives: one for all, or one for each in order. It returns
// none if no directory is given; bad URLs and pins are usage errors.
func Directories(c *urfave.Context) ([]*dirclient.Client, error) {
	urls, pins := nonEmpty(c.StringSlice("dir")), c.StringSlice("dir-pin")
	if len(nonEmpty(pins)) == 0 {
		pins = nil // no pin at all; an empty one in a list is a directory without one
	}
	switch {
	case len(urls) == 0 && len(pins) > 0:
		return nil, UsageErrorf(c, "--dir-pin given without --dir")
	case len(pins) > 1 && len(pins) != len(urls):
		return nil, UsageErrorf(c, "%d pins for %d directories: give one --dir-pin for each --dir, or one for all",
			len(pins), len(urls))
	}
	var out []*dirclient.Client
	for i, u := range urls {
		pin := ""
		switch {
		case len(pins) == 1:
			pin = strings.TrimSpace(pins[0])
		case len(pins) > 1:
			pin = strings.TrimSpace(pins[i])
		}
		d, err := dirclient.New(u, pin)
		if err != nil {
			return nil, UsageErrorf(c, "%w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
