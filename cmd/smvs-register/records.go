package main

import (
	"errors"
	"fmt"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/record"
	"smvs/lib/wire"
)

// self is this identity, read from its file.
type self struct {
	id   *identity.Identity
	path string
	pass []byte // its passphrase, nil if unprotected; only when kept
}

func (s *self) close() {
	s.id.Destroy()
	clear(s.pass)
}

// readSelf reads the user's identity with cli.ReadIdentity.
func readSelf(c *urfave.Context) (*self, error) {
	path, err := cli.IdentityPath(c)
	if err != nil {
		return nil, err
	}
	id, err := cli.ReadIdentity(c, path)
	if err != nil {
		return nil, err
	}
	if id.Kind() != identity.KindIdentity {
		id.Destroy()
		return nil, cli.Errorf("%s holds a device key, not an identity", path)
	}
	return &self{id: id, path: path}, nil
}

// readSelfForRewrite reads the user's identity and keeps its passphrase
// (see cli.ReadIdentityForRewrite), to write the changed identity back
// protected the same way.
func readSelfForRewrite(c *urfave.Context) (*self, error) {
	path, err := cli.IdentityPath(c)
	if err != nil {
		return nil, err
	}
	id, raw, pass, err := cli.ReadIdentityForRewrite(c, path)
	if err != nil {
		return nil, err
	}
	clear(raw)
	s := &self{id: id, path: path, pass: pass}
	if id.Kind() != identity.KindIdentity {
		s.close()
		return nil, cli.Errorf("%s holds a device key, not an identity", path)
	}
	return s, nil
}

// currentRecord returns the newest record of key that the directories
// serve (see record.Current), or nil if none does.
func currentRecord(c *urfave.Context, dirs []*dirclient.Client, key identity.PublicKey) (*wire.Record, error) {
	r, err := record.Current(c.Context, dirs, key)
	if err != nil {
		return nil, dirError(err)
	}
	return r, nil
}

// lastRecord returns the newest record of the identity the directories
// serve, or failing that, of the newest key it rotated from: after a
// rotation whose record no directory took, the new key's record takes
// the name and host address of the old one's. It returns nil if none
// has a record.
func lastRecord(c *urfave.Context, dirs []*dirclient.Client, k identity.Keys) (*wire.Record, error) {
	r, err := currentRecord(c, dirs, k.Public())
	if r != nil || err != nil {
		return r, err
	}
	chain, err := k.Rotations()
	if err != nil {
		return nil, cli.Errorf("reading the identity's rotations: %w", err)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		rot, err := wire.VerifyRotation(chain[i])
		if err != nil {
			return nil, cli.Errorf("the identity's rotation %d: %w", i+1, err)
		}
		old, err := identity.NewPublicKey(identity.KindIdentity, rot.Old)
		if err != nil {
			return nil, cli.Errorf("the identity's rotation %d: %w", i+1, err)
		}
		if r, err := currentRecord(c, dirs, old); r != nil || err != nil {
			return r, err
		}
	}
	return nil, nil
}

// noRecord is the error of a command that needs the user's current record.
func noRecord(key identity.PublicKey) *cli.Error {
	return cli.Errorf("no directory has a record of yours (%s)", key).WithExitCode(exitNotFound).
		WithHintf("publish one with: smvs-register publish --host ADDR NAME")
}

// kemWarning is how soon before its KEM key expires publishing a record
// warns about it.
const kemWarning = identity.DefaultKEMGrace

// newRecord returns k's record for name and host, issued now and valid
// for lifetime (see record.New), and warns if its KEM key expires soon.
func newRecord(c *urfave.Context, k identity.Keys, name, host string, prev *wire.Record, lifetime time.Duration) (*wire.Record, error) {
	now := time.Now()
	r, err := record.New(k, name, host, prev, lifetime, now)
	if err != nil {
		return nil, cli.Errorf("%w", err).WithHintf("make a new one with: smvs-register rotate --kem")
	}
	kemExpires := time.UnixMilli(r.KEM.Expires)
	if soon := now.Add(kemWarning); kemExpires.Before(soon) && kemExpires.Before(now.Add(lifetime)) {
		cli.Warningf(c, "the KEM key %x expires at %s, before the record does", r.KEM.ID, formatTime(r.KEM.Expires))
		cli.Hintf(c, "nobody can send you messages after that: run smvs-register rotate --kem before then")
	}
	return r, nil
}

// publishAll sends a record signed by k to every directory and reports
// each success. It returns how many directories took it, and an error if
// any refused.
func publishAll(c *urfave.Context, dirs []*dirclient.Client, r *wire.Record, k identity.Keys) (int, error) {
	signed, err := wire.SignRecord(k.Signer(), r)
	if err != nil {
		return 0, cli.Errorf("signing the record: %w", err)
	}
	var failed []error
	for _, d := range dirs {
		if err := d.Publish(c.Context, signed); err != nil {
			failed = append(failed, err)
			continue
		}
		say(c, "published %q (%s) to %s, valid until %s", r.Name, k.Public(), d, formatTime(r.Expires))
	}
	return len(dirs) - len(failed), summarize(c, "published to", len(dirs), failed)
}

// summarize returns the error of an operation on n directories of which
// failed failed: the one error when there is one directory, else one that
// counts them after a warning for each.
func summarize(c *urfave.Context, done string, n int, failed []error) error {
	if len(failed) == 0 {
		return nil
	}
	if n == 1 {
		return dirError(failed[0])
	}
	code := dirError(failed[0]).ExitCode()
	for _, err := range failed {
		cli.Warningf(c, "%v", err)
		if dirError(err).ExitCode() != code {
			code = cli.ExitFailure
		}
	}
	if len(failed) < n {
		code = cli.ExitFailure
	}
	return cli.Errorf("%s %d of %d directories", done, n-len(failed), n).WithExitCode(code)
}

func publish(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	name, err := names.Normalize(c.Args().First())
	if err != nil {
		return cli.UsageErrorf(c, "%w", err)
	}
	if name != c.Args().First() {
		cli.Warningf(c, "publishing %q as %q, the form names take in the directory", c.Args().First(), name)
	}
	return publishRecord(c, name)
}

func update(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	return publishRecord(c, "")
}

// publishRecord publishes this identity's record under name, or under the
// name of its current record if name is "": through the running host if
// one answers, else with the keys where they are held.
func publishRecord(c *urfave.Context, name string) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	if done, err := throughHost(c, &hostapi.Publish{Name: name, Host: host, Lifetime: hostLifetime(c, lifetime)}); done {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	k, err := openKeys(c, changeRecord)
	if err != nil {
		return err
	}
	defer k.Close()
	prev, err := lastRecord(c, dirs, k)
	if err != nil {
		return err
	}
	switch {
	case name == "" && prev == nil:
		return noRecord(k.Public())
	case name == "":
		name = prev.Name
	case prev != nil && prev.Name != name:
		cli.Warningf(c, "your record was %q; publishing it as %q frees that name", prev.Name, name)
	}
	if host == "" && prev != nil {
		host = prev.Host
	}
	if host == "" {
		cli.Warningf(c, "the record gives no host address: others can find your key, but their hosts can't reach yours")
		cli.Hintf(c, "give the address where smvs-hostd listens with --host ADDR, or let smvs-hostd --name %s publish it", name)
	}
	r, err := newRecord(c, k, name, host, prev, lifetime)
	if err != nil {
		return err
	}
	_, err = publishAll(c, dirs, r, k)
	return err
}

func rotate(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	switch kem, id := c.Bool("kem"), c.Bool("identity"); {
	case kem && id:
		return cli.UsageErrorf(c, "--kem and --identity can't go together: rotate one, then the other")
	case kem:
		return rotateKEM(c)
	case id:
		return rotateIdentity(c)
	}
	return cli.UsageErrorf(c, "say what to rotate: --kem or --identity")
}

// rotateKEM gives the identity a new KEM key, saves it, and publishes the
// record with it where the identity has one: the running host does all
// that if one answers.
func rotateKEM(c *urfave.Context) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	if done, err := throughHost(c, &hostapi.Publish{Host: host, Lifetime: hostLifetime(c, lifetime), RotateKEM: true}); done {
		return err
	}
	dirs, err := cli.Directories(c)
	if err != nil {
		return err
	}
	k, err := openKeys(c, changeRecord)
	if err != nil {
		return err
	}
	defer k.Close()
	prev, err := lastRecord(c, dirs, k)
	if err != nil {
		return err
	}

	now := time.Now()
	kem, err := k.RotateKEM(now, identity.DefaultKEMLifetime, identity.DefaultKEMGrace)
	if err != nil {
		return cli.Errorf("making the KEM key: %w", err)
	}
	sayKEM(c, kem, now)
	pruned, err := k.PruneKEM(now)
	if err != nil {
		return cli.Errorf("destroying the expired KEM keys: %w", err)
	}
	if pruned > 0 {
		say(c, "destroyed %d expired KEM keys", pruned)
	}

	if prev == nil {
		cli.Warningf(c, "no record of yours was found to publish the new KEM key in")
		cli.Hintf(c, "publish it with: smvs-register publish --dir URL NAME")
		return nil
	}
	if host == "" {
		host = prev.Host
	}
	r, err := newRecord(c, k, prev.Name, host, prev, lifetime)
	if err != nil {
		return err
	}
	if _, err := publishAll(c, dirs, r, k); err != nil {
		return publishLater(err, "the new KEM key is saved")
	}
	return nil
}

// sayKEM tells of the new KEM key kem, made at now.
func sayKEM(c *urfave.Context, kem wire.KEMPublic, now time.Time) {
	say(c, "new KEM key %x, valid until %s; the old ones open messages until %s at the latest",
		kem.ID, formatTime(kem.Expires), formatTime(now.Add(identity.DefaultKEMGrace).UnixMilli()))
}

// publishLater adds to err, a failure to publish a change already saved,
// the hint to publish it again.
func publishLater(err error, saved string) error {
	var e *cli.Error
	if errors.As(err, &e) {
		e.WithHintf("%s; publish it with: smvs-register update", saved)
	}
	return err
}

// rotateIdentity replaces the identity with a new one, identity.Rotate's,
// saved before anything is published: it carries the chain of signed
// rotations that leads to it, and the retired keys, until the host has
// moved its store over (so it is refused while a host runs: the host
// moves its store when it starts). Then it publishes the new key's record,
// under the same name, carrying the chain.
func rotateIdentity(c *urfave.Context) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	if err := refuseBesideHost(c, changeIdentity); err != nil {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	k, err := openKeys(c, changeIdentity)
	if err != nil {
		return err
	}
	defer k.Close()
	prev, err := lastRecord(c, dirs, k)
	if err != nil {
		return err
	}
	if prev == nil {
		return noRecord(k.Public())
	}
	if host == "" {
		host = prev.Host
	}

	old := k.Public()
	next, err := k.RotateIdentity(c.Context)
	if err != nil {
		return cli.Errorf("rotating the identity: %w", err)
	}
	say(c, "rotated %s to a new identity, %s, signed over to by the old key", old, next)
	fmt.Fprintln(c.App.Writer, next)

	r, err := newRecord(c, k, prev.Name, host, prev, lifetime)
	if err != nil {
		return publishLater(err, "the new identity is saved")
	}
	if _, err := publishAll(c, dirs, r, k); err != nil {
		return publishLater(err, "the new identity is saved")
	}
	return nil
}

func remove(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	if err := refuseBesideHost(c, changeRemove); err != nil {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	k, err := openKeys(c, changeRemove)
	if err != nil {
		return err
	}
	defer k.Close()
	me := k.Public()
	prev, err := currentRecord(c, dirs, me)
	if err != nil {
		return err
	}
	if prev == nil {
		return cli.Errorf("no directory has a record of yours (%s) to remove", me).WithExitCode(exitNotFound)
	}
	now := time.Now()
	t := &wire.Tombstone{
		Name:     prev.Name,
		Identity: me.Bytes(),
		Seq:      max(uint64(now.UnixMilli()), prev.Seq+1),
		Issued:   now.UnixMilli(),
	}
	signed, err := wire.SignTombstone(k.Signer(), t)
	if err != nil {
		return cli.Errorf("signing the tombstone: %w", err)
	}
	var failed []error
	for _, d := range dirs {
		err := d.Remove(c.Context, signed)
		switch {
		case errors.Is(err, dirclient.ErrNotFound):
			say(c, "%s has no record of yours to remove", d)
		case err != nil:
			failed = append(failed, err)
		default:
			say(c, "removed %q (%s) from %s", prev.Name, me, d)
		}
	}
	return summarize(c, "removed from", len(dirs), failed)
}
