package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/host"
	"smvs/lib/identity"
	"smvs/lib/record"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// Where the store is kept by default: storeName in the SMVS home when it
// is set, else in smvs in the user's data directory. Before, it was
// legacyStoreName, which is also the name a linked device's link file
// had; a store found there is moved once (see moveLegacyStore).
const (
	storeName       = "store"
	legacyStoreName = "host"
)

// nameCheckTimeout bounds the look-up of --name in the directories at
// start.
const nameCheckTimeout = 10 * time.Second

// dataDir returns the data directory: --data; else store in the SMVS home
// if that was set (so a test or a second user gets a world of its own);
// else smvs/store in the user's data directory ($XDG_DATA_HOME, by
// default ~/.local/share). For a default, it also returns where the
// store was kept before, else "".
func dataDir(c *urfave.Context, home string) (dir, legacy string, err error) {
	if dir := c.Path("data"); dir != "" {
		return dir, "", nil
	}
	parent := home
	if !cli.HomeIsSet(c) {
		if parent, err = dataHome(); err != nil {
			return "", "", err
		}
	}
	return filepath.Join(parent, storeName), filepath.Join(parent, legacyStoreName), nil
}

// dataHome returns smvs in the user's data directory.
func dataHome() (string, error) {
	// The XDG spec says to ignore a relative $XDG_DATA_HOME.
	if dir := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "smvs"), nil
	}
	userHome, err := os.UserHomeDir()
	if err != nil || userHome == "" {
		return "", cli.Errorf("can't find a data directory: $HOME is not set").
			WithHintf("give one with --data DIR or %s", envData)
	}
	return filepath.Join(userHome, ".local", "share", "smvs"), nil
}

// moveLegacyStore moves a store kept where an older version kept it
// (legacy) to the data directory (dir), once: only when dir does not
// exist yet, with one rename (legacy and dir share a parent, so it is
// atomic), and while holding the store's lock, so no host has it open. If
// both exist, dir is used and the store at legacy is left as it is, with
// a warning. Nothing is ever deleted.
func moveLegacyStore(log *slog.Logger, dir, legacy string) error {
	if legacy == "" || !store.Exists(legacy) {
		return nil
	}
	if _, err := os.Lstat(dir); err == nil {
		log.Warn("a message store is also at the path an older version used; using the new one and leaving the old one as it is",
			"store", dir, "old", legacy)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return cli.Errorf("%w", err)
	}
	switch err := store.Move(legacy, dir); {
	case errors.Is(err, store.ErrInUse):
		return storeInUse(legacy)
	case err != nil && !(store.Exists(dir) && !store.Exists(legacy)):
		return moveError(legacy, dir, err)
	case err != nil:
		// Moved: by another host starting at the same time, or by this
		// one with its directory not yet synced.
		log.Warn("moving the message store", "from", legacy, "to", dir, "err", err)
	}
	log.Info("moved the message store from where an older version kept it", "from", legacy, "to", dir)
	return nil
}

func moveError(legacy, dir string, err error) error {
	return cli.Errorf("moving the message store from %s to %s: %w", legacy, dir, err).
		WithHintf("move it yourself (mv %s %s), or keep it where it is with --data %s", legacy, dir, legacy)
}

// storeInUse explains that another process holds the store in dir.
func storeInUse(dir string) *cli.Error {
	return cli.Errorf("another smvs-hostd already uses the message store in %s", dir).
		WithHintf("stop it, or give this host a store of its own with --data DIR or another %s", cli.HomeEnv)
}

// checkName fails, with exitNameTaken, when a directory serves the name
// --name asks for as another key's: the directory would refuse this
// host's record, so the name would not reach anyone. A key that this
// identity's record says it was rotated from holds the name for it. A
// directory that can't be asked is left to the host, which keeps trying.
func checkName(ctx context.Context, hc host.Config) error {
	if hc.Name == "" || len(hc.Directories) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, nameCheckTimeout)
	defer cancel()
	me := hc.Keys.Public()
	var mine *wire.Record
	askedMine := false
	for _, d := range hc.Directories {
		signed, err := d.LookupName(ctx, hc.Name)
		if err != nil {
			continue
		}
		r, err := wire.VerifyRecord(signed)
		if err != nil || r.Name != hc.Name || bytes.Equal(r.Identity, me.Bytes()) ||
			time.UnixMilli(r.Expires).Before(time.Now()) {
			continue
		}
		if !askedMine {
			mine, _ = record.Current(ctx, hc.Directories, me)
			askedMine = true
		}
		if mine != nil && bytes.Equal(mine.RotatedFrom(), r.Identity) {
			continue
		}
		holder, err := identity.NewPublicKey(identity.KindIdentity, r.Identity)
		if err != nil {
			continue
		}
		return cli.Errorf("the name %q is taken: the directory %s serves it for %s, not this identity (%s)", hc.Name, d, holder, me).
			WithExitCode(exitNameTaken).
			WithHintf("the first key to claim a name keeps it while its record is fresh: choose another --name, " +
				"or start without --name to keep the name of this identity's record")
	}
	return nil
}
