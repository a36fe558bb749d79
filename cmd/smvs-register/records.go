package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/dirclient"
	"smvs/lib/directory"
	"smvs/lib/identity"
	"smvs/lib/record"
	"smvs/lib/wire"
)

// self is this identity, read from its file.
type self struct {
	id   *identity.Identity
	path string
	raw  []byte // the file as read; only when kept for rewriting it
	pass []byte // its passphrase, nil if unprotected; only when kept
}

func (s *self) close() {
	s.id.Destroy()
	clear(s.raw)
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

// readSelfForRewrite reads the user's identity and keeps the file's
// contents and its passphrase (see cli.ReadIdentityForRewrite), to write
// the changed identity back protected the same way.
func readSelfForRewrite(c *urfave.Context) (*self, error) {
	path, err := cli.IdentityPath(c)
	if err != nil {
		return nil, err
	}
	id, raw, pass, err := cli.ReadIdentityForRewrite(c, path)
	if err != nil {
		return nil, err
	}
	s := &self{id: id, path: path, raw: raw, pass: pass}
	if id.Kind() != identity.KindIdentity {
		s.close()
		return nil, cli.Errorf("%s holds a device key, not an identity", path)
	}
	return s, nil
}

// marshal returns id's key file contents, protected with s's passphrase
// if s's file was.
func (s *self) marshal(id *identity.Identity) ([]byte, error) {
	text := id.MarshalText()
	if s.pass == nil {
		return text, nil
	}
	defer clear(text)
	data, err := identity.Encrypt(text, s.pass)
	if err != nil {
		return nil, cli.Errorf("protecting the key: %w", err)
	}
	return data, nil
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

// noRecord is the error of a command that needs the user's current record.
func noRecord(key identity.PublicKey) *cli.Error {
	return cli.Errorf("no directory has a record of yours (%s)", key).WithExitCode(exitNotFound).
		WithHintf("publish one with: smvs-register publish --host ADDR NAME")
}

// kemWarning is how soon before its KEM key expires publishing a record
// warns about it.
const kemWarning = identity.DefaultKEMGrace

// newRecord returns id's record for name and host, issued now and valid
// for lifetime (see record.New), and warns if its KEM key expires soon.
func newRecord(c *urfave.Context, id *identity.Identity, name, host string, prev *wire.Record, lifetime time.Duration) (*wire.Record, error) {
	now := time.Now()
	r, err := record.New(identity.NewKeyring(id, "", nil), name, host, prev, lifetime, now)
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

// publishAll sends a signed record to every directory and reports each
// success. It returns how many directories took it, and an error if any
// refused.
func publishAll(c *urfave.Context, dirs []*dirclient.Client, r *wire.Record, signer *identity.Identity) (int, error) {
	signed, err := wire.SignRecord(signer.Signer(), r)
	if err != nil {
		return 0, cli.Errorf("signing the record: %w", err)
	}
	var failed []error
	for _, d := range dirs {
		if err := d.Publish(c.Context, signed); err != nil {
			failed = append(failed, err)
			continue
		}
		say(c, "published %q (%s) to %s, valid until %s", r.Name, signer.Public(), d, formatTime(r.Expires))
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
	name, err := directory.NormalizeName(c.Args().First())
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
// name of its current record if name is "".
func publishRecord(c *urfave.Context, name string) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	me, err := readSelf(c)
	if err != nil {
		return err
	}
	defer me.close()
	prev, err := currentRecord(c, dirs, me.id.Public())
	if err != nil {
		return err
	}
	switch {
	case name == "" && prev == nil:
		return noRecord(me.id.Public())
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
	r, err := newRecord(c, me.id, name, host, prev, lifetime)
	if err != nil {
		return err
	}
	_, err = publishAll(c, dirs, r, me.id)
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
// record with it where the identity has one.
func rotateKEM(c *urfave.Context) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	dirs, err := cli.Directories(c)
	if err != nil {
		return err
	}
	me, err := readSelfForRewrite(c)
	if err != nil {
		return err
	}
	defer me.close()
	prev, err := currentRecord(c, dirs, me.id.Public())
	if err != nil {
		return err
	}

	now := time.Now()
	kem, err := me.id.RotateKEM(now, identity.DefaultKEMLifetime, identity.DefaultKEMGrace)
	if err != nil {
		return cli.Errorf("making the KEM key: %w", err)
	}
	pruned := me.id.PruneKEM(now)
	data, err := me.marshal(me.id)
	if err != nil {
		return err
	}
	defer clear(data)
	if err := identity.ReplaceFile(me.path, data); err != nil {
		return cli.Errorf("saving the identity: %w", err)
	}
	say(c, "new KEM key %x, valid until %s; the old ones open messages until %s at the latest",
		kem.ID(), formatTime(kem.Expires().UnixMilli()), formatTime(now.Add(identity.DefaultKEMGrace).UnixMilli()))
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
	r, err := newRecord(c, me.id, prev.Name, host, prev, lifetime)
	if err != nil {
		return err
	}
	if _, err := publishAll(c, dirs, r, me.id); err != nil {
		var e *cli.Error
		if errors.As(err, &e) {
			e.WithHintf("the new KEM key is saved; publish it with: smvs-register update")
		}
		return err
	}
	return nil
}

// rotateIdentity replaces the identity with a new one: it signs a
// rotation from the old key to the new, publishes the new key's record
// carrying it, and only once a directory has taken it replaces the
// identity file, keeping the old key as identity.old. Until then the new
// key waits in identity.new, so no crash loses it.
func rotateIdentity(c *urfave.Context) error {
	lifetime, err := lifetime(c)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	me, err := readSelfForRewrite(c)
	if err != nil {
		return err
	}
	defer me.close()
	prev, err := currentRecord(c, dirs, me.id.Public())
	if err != nil {
		return err
	}
	if prev == nil {
		return noRecord(me.id.Public())
	}
	if host == "" {
		host = prev.Host
	}

	now := time.Now()
	next, err := identity.Generate(identity.KindIdentity, now)
	if err != nil {
		return cli.Errorf("making the new identity: %w", err)
	}
	defer next.Destroy()
	rotation, err := wire.SignRotation(me.id.Signer(), &wire.Rotation{
		Old: me.id.Public().Bytes(), New: next.Public().Bytes(), Issued: now.UnixMilli(),
	})
	if err != nil {
		return cli.Errorf("signing the rotation: %w", err)
	}
	r, err := newRecord(c, next, prev.Name, host, nil, lifetime)
	if err != nil {
		return err
	}
	r.Rotation = rotation

	data, err := me.marshal(next)
	if err != nil {
		return err
	}
	defer clear(data)
	pending := me.path + ".new"
	if err := identity.WriteNewFile(pending, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.Errorf("%s exists: an earlier rotation did not finish", pending).
				WithHintf("if a directory serves its key (smvs-keygen -y %s, then smvs-register lookup KEY), "+
					"move it over %s; otherwise remove it", pending, me.path)
		}
		return cli.Errorf("saving the new identity: %w", err)
	}

	published, err := publishAll(c, dirs, r, next)
	if published == 0 {
		os.Remove(pending)
		return err
	}
	if err != nil {
		// Some directory has the new key now: it must be kept.
		cli.Warningf(c, "%v", err)
		cli.Hintf(c, "publish the new record where it failed with: smvs-register update")
	}
	old := me.path + ".old"
	if err := identity.ReplaceFile(old, me.raw); err != nil {
		return cli.Errorf("keeping the old identity as %s: %w", old, err).
			WithHintf("the new identity is in %s: move it over %s by hand", pending, me.path)
	}
	if err := identity.ReplaceFile(me.path, data); err != nil {
		return cli.Errorf("saving the new identity: %w", err).
			WithHintf("the new identity is in %s: move it over %s by hand", pending, me.path)
	}
	os.Remove(pending)
	say(c, "rotated %s to a new identity; the old key is kept in %s", me.id.Public(), old)
	fmt.Fprintln(c.App.Writer, next.Public())
	return nil
}

func remove(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	dirs, err := needDirectories(c)
	if err != nil {
		return err
	}
	me, err := readSelf(c)
	if err != nil {
		return err
	}
	defer me.close()
	prev, err := currentRecord(c, dirs, me.id.Public())
	if err != nil {
		return err
	}
	if prev == nil {
		return cli.Errorf("no directory has a record of yours (%s) to remove", me.id.Public()).WithExitCode(exitNotFound)
	}
	now := time.Now()
	t := &wire.Tombstone{
		Name:     prev.Name,
		Identity: me.id.Public().Bytes(),
		Seq:      max(uint64(now.UnixMilli()), prev.Seq+1),
		Issued:   now.UnixMilli(),
	}
	signed, err := wire.SignTombstone(me.id.Signer(), t)
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
			say(c, "removed %q (%s) from %s", prev.Name, me.id.Public(), d)
		}
	}
	return summarize(c, "removed from", len(dirs), failed)
}
