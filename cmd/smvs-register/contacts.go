package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/contacts"
	"smvs/lib/identity"
	"smvs/lib/link"
	"smvs/lib/names"
)

// resolver returns the resolver of the contacts file and the directories
// --dir names (none is fine: the contacts file alone).
func resolver(c *urfave.Context) (*contacts.Resolver, error) {
	path, err := contactsPath(c)
	if err != nil {
		return nil, err
	}
	dirs, err := cli.Directories(c)
	if err != nil {
		return nil, err
	}
	r := &contacts.Resolver{Path: path}
	for _, d := range dirs {
		r.Directories = append(r.Directories, d)
	}
	return r, nil
}

// ownKey returns the user's own identity key, if it is known without a
// passphrase: from smvs-agent, from an identity file that is not
// protected, or from a linked device's link to its host. Else it returns
// the zero key.
func ownKey(c *urfave.Context) identity.PublicKey {
	if key, ok := agentKey(c); ok {
		return key
	}
	home, err := cli.Home(c)
	if err != nil {
		return identity.PublicKey{}
	}
	path, err := cli.IdentityPath(c)
	if err != nil {
		return identity.PublicKey{}
	}
	if id, err := identity.ReadFile(path, nil); err == nil {
		defer id.Destroy()
		if id.Kind() == identity.KindIdentity {
			return id.Public()
		}
	}
	if l, err := link.Read(home); err == nil {
		return l.Identity
	}
	return identity.PublicKey{}
}

// resolve resolves query, and reports what it did.
func resolve(c *urfave.Context, r *contacts.Resolver, query string) (*contacts.Resolved, error) {
	res, err := r.Resolve(c.Context, query)
	if err != nil {
		return nil, resolveError(c, r, query, err)
	}
	report(c, res)
	return res, nil
}

// report tells the user what resolving a contact changed in the contacts
// file, and which directories it skipped.
func report(c *urfave.Context, res *contacts.Resolved) {
	for _, err := range res.Skipped {
		cli.Warningf(c, "%v", err)
	}
	name := res.Contact.Name
	switch res.Change {
	case contacts.Pinned:
		say(c, "pinned the key of %s on first use: %s", name, res.Contact.Key)
		cli.Hintf(c, "compare safety numbers with %s: smvs-register verify %s", name, name)
	case contacts.Rotated:
		if res.Steps > 1 {
			say(c, "%s moved to a new key, through %d rotations, the first signed by the pinned one: %s (was %s)",
				name, res.Steps, res.Contact.Key, res.Previous)
		} else {
			say(c, "%s moved to a new key, with a rotation signed by the pinned one: %s (was %s)", name, res.Contact.Key, res.Previous)
		}
		if res.Contact.Verified {
			say(c, "%s is still marked verified: the key you verified signed the move", name)
		}
	}
}

// resolveError explains an error of Resolve for query.
func resolveError(c *urfave.Context, r *contacts.Resolver, query string, err error) error {
	var (
		changed   *contacts.KeyChangedError
		rollback  *contacts.RollbackError
		insecure  *contacts.InsecureFileError
		parse     *contacts.ParseError
		malformed *contacts.MalformedKeyError
	)
	switch {
	case errors.As(err, &changed):
		return cli.Errorf("%w", err).WithExitCode(exitKeyChanged).WithHintf("%s", changed.Hint())
	case errors.As(err, &rollback):
		// As with a changed key, what the directory says can't be trusted.
		return cli.Errorf("%w", err).WithExitCode(exitKeyChanged).WithHintf("%s", rollback.Hint())
	case errors.As(err, &malformed):
		return malformedKeyError(err)
	case errors.Is(err, names.ErrInvalid), errors.Is(err, identity.ErrBadPublicKey):
		return cli.UsageErrorf(c, "%w", err)
	case errors.Is(err, contacts.ErrNotFound):
		e := cli.Errorf("%w", err).WithExitCode(exitNotFound)
		_, name, _ := contacts.ParseQuery(query)
		switch {
		case len(r.Directories) == 0:
			e.WithHintf("to look it up in a directory, give --dir URL or set %s", cli.DirEnv)
		case name == "":
			e.WithHintf("to write to a key no directory knows, add it with its host's address: smvs-register add --host ADDR NAME %s", query)
		default:
			e.WithHintf("check the name; if you have their key, add them: smvs-register add %s smvs1...", name)
		}
		if contacts.LooksLikeKey(query) && len(query) < contacts.KeyLen {
			e.WithHintf("if %s is meant as a key, it is cut short: a key has %d characters", query, contacts.KeyLen)
		}
		return e
	case errors.Is(err, contacts.ErrBadRecord):
		return cli.Errorf("%w", err).WithHintf("the directory is broken or lying; nothing was pinned")
	case errors.As(err, &insecure), errors.As(err, &parse):
		return contactsFileError(err)
	}
	return dirError(err)
}

// malformedKeyError explains a key that was mistyped or cut short: a
// usage error, though the command's help can't help with it.
func malformedKeyError(err error) *cli.Error {
	return cli.Errorf("%w", err).WithExitCode(cli.ExitUsage).
		WithHintf("copy the key again; its owner prints it with smvs-keygen -y")
}

// contactsFileError explains an error reading the contacts file.
func contactsFileError(err error) error {
	var (
		insecure *contacts.InsecureFileError
		parse    *contacts.ParseError
		e        *cli.Error
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &insecure):
		return cli.Errorf("%w", err).WithHintf("if nobody else could have changed it, run: chmod 600 %s", insecure.Path)
	case errors.As(err, &parse):
		return cli.Errorf("%w", err).WithHintf("the contacts file is yours, a plain text file: fix or remove that line")
	}
	return cli.Errorf("%w", err)
}

// contactJSON is a contact as lookup --json and contacts --json print it.
type contactJSON struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Host       string `json:"host,omitempty"`
	Relay      string `json:"relay,omitempty"` // the key of the host at Host, which relays for the contact's
	Verified   bool   `json:"verified"`
	Contact    bool   `json:"contact"`               // in the contacts file
	Change     string `json:"change,omitempty"`      // "pinned" or "rotated": what this look-up changed
	Directory  string `json:"directory,omitempty"`   // the directory that served the record
	KEMKeyID   string `json:"kem_key_id,omitempty"`  // hex
	KEMExpires string `json:"kem_expires,omitempty"` // RFC 3339
	Issued     string `json:"issued,omitempty"`
	Expires    string `json:"expires,omitempty"`
	Seq        uint64 `json:"seq,omitempty"`
	Record     string `json:"record,omitempty"` // the signed record, base64
	Self       bool   `json:"self,omitempty"`   // the user's own key
}

func lookup(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	r, err := resolver(c)
	if err != nil {
		return err
	}
	r.Self = ownKey(c)
	res, err := resolve(c, r, c.Args().First())
	if err != nil {
		return err
	}
	out := contactJSON{
		Name:     res.Contact.Name,
		ID:       res.Contact.Key.String(),
		Host:     res.Host(),
		Verified: res.Contact.Verified,
		Contact:  res.InFile,
		Change:   map[contacts.Change]string{contacts.Pinned: "pinned", contacts.Rotated: "rotated"}[res.Change],
		Self:     res.Self,
	}
	if rec := res.Record; rec != nil {
		out.Directory = res.Directory
		out.KEMKeyID = hex.EncodeToString(rec.KEM.ID)
		out.KEMExpires = formatTime(rec.KEM.Expires)
		out.Issued = formatTime(rec.Issued)
		out.Expires = formatTime(rec.Expires)
		out.Seq = rec.Seq
		out.Record = base64.StdEncoding.EncodeToString(res.Signed)
		if len(rec.Via) > 0 && res.Contact.Host == "" {
			if via, err := identity.NewPublicKey(identity.KindIdentity, rec.Via); err == nil {
				out.Relay = via.String()
			}
		}
	}
	if c.Bool("json") {
		return printJSON(c, out)
	}
	w := c.App.Writer
	// Values come from a record or the contacts file: escaped, whatever
	// rules they passed on the way.
	field := func(label, value string) { fmt.Fprintf(w, "%-13s%s\n", label+":", cli.Escape(value)) }
	field("name", out.Name)
	field("id", out.ID)
	field("host", orNone(out.Host))
	if out.Relay != "" {
		field("relay", out.Relay+" (the host at that address passes messages on)")
	}
	if res.Record == nil {
		field("record", "none: from your contacts file alone")
	} else {
		field("kem key", out.KEMKeyID+", until "+out.KEMExpires)
		field("expires", out.Expires)
		field("directory", out.Directory)
	}
	switch {
	case res.Self:
		field("verified", "not needed: this is you, your own identity key")
	case !res.InFile:
		field("verified", "no (not in your contacts)")
	case out.Verified:
		field("verified", "yes")
	default:
		field("verified", "no")
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printJSON(c *urfave.Context, v any) error {
	if err := cli.WriteJSON(c.App.Writer, v); err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	return nil
}

// contactName returns the contact name argument i, normalised; a key
// there is a usage error.
func contactName(c *urfave.Context, i int) (string, error) {
	arg := c.Args().Get(i)
	if _, err := identity.ParsePublicKey(arg); err == nil {
		return "", cli.UsageErrorf(c, "%s is a key; give the contact's name", arg)
	}
	name, err := names.Normalize(arg)
	switch {
	case err != nil && contacts.LooksLikeKey(arg):
		return "", cli.UsageErrorf(c, "%q looks like a key, not a name: give %s", arg, c.Command.ArgsUsage)
	case err != nil:
		return "", cli.UsageErrorf(c, "%w", err)
	}
	return name, nil
}

// contactKey returns the key argument i.
func contactKey(c *urfave.Context, i int) (identity.PublicKey, error) {
	key, err := contacts.ParseKey(c.Args().Get(i))
	var malformed *contacts.MalformedKeyError
	switch {
	case errors.As(err, &malformed):
		return key, malformedKeyError(err)
	case err != nil:
		return key, cli.UsageErrorf(c, "%w", err)
	}
	return key, nil
}

// myKey returns this identity's key: smvs-agent's, if --agent (or
// SMVS_AGENT_SOCK) names one that answers, else the identity file's.
func myKey(c *urfave.Context) (identity.PublicKey, error) {
	if key, ok := agentKey(c); ok {
		return key, nil
	}
	me, err := readSelf(c)
	if err != nil {
		return identity.PublicKey{}, err
	}
	defer me.close()
	return me.id.Public(), nil
}

func verify(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	name, err := contactName(c, 0)
	if err != nil {
		return err
	}
	r, err := resolver(c)
	if err != nil {
		return err
	}
	me, err := myKey(c)
	if err != nil {
		return err
	}
	r.Self = me

	res, err := r.Resolve(c.Context, name)
	var changed *contacts.KeyChangedError
	if errors.As(err, &changed) {
		// The number to compare before trusting the new key.
		printSafetyNumber(c, me, name, changed.Got)
		return cli.Errorf("%w", err).WithExitCode(exitKeyChanged).
			WithHintf("the number above is for the new key; if it matches the one %s sees, accept the key with: "+
				"smvs-register trust %s %s", name, name, changed.Got)
	}
	if err != nil {
		return resolveError(c, r, name, err)
	}
	if res.Self {
		return cli.Errorf("%s is you: a safety number is for comparing keys with someone else", name)
	}
	report(c, res)
	printSafetyNumber(c, me, name, res.Contact.Key)
	switch {
	case c.Bool("yes"):
		return markVerified(c, r.Path, res.Contact)
	case res.Contact.Verified:
		say(c, "%s is marked verified", name)
	default:
		fmt.Fprintf(c.App.Writer, "\nCompare it with %s out of band: in person, or on a call where you know their voice.\n"+
			"You both see the same number. If it matches, run: smvs-register verify --yes %s\n", name, name)
	}
	return nil
}

func printSafetyNumber(c *urfave.Context, me identity.PublicKey, name string, key identity.PublicKey) {
	w := c.App.Writer
	fmt.Fprintf(w, "Safety number of you and %s:\n\n    %s\n\n", name, contacts.SafetyNumber(me, key))
	width := max(len(name), len("you")) + 2
	fmt.Fprintf(w, "%-*s%s\n%-*s%s\n", width, "you", me, width, name, key)
}

// markVerified marks contact verified, if it still has the same key.
func markVerified(c *urfave.Context, path string, contact contacts.Contact) error {
	err := contacts.Update(path, func(f *contacts.File) error {
		now, ok := f.Lookup(contact.Name)
		if !ok || now.Key != contact.Key {
			return cli.Errorf("the contacts file changed meanwhile: %s is no longer pinned to %s", contact.Name, contact.Key).
				WithHintf("run the command again")
		}
		now.Verified = true
		return f.Set(now)
	})
	if err != nil {
		return contactsFileError(err)
	}
	say(c, "marked %s verified", contact.Name)
	return nil
}

func trust(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 2, 2); err != nil {
		return err
	}
	name, err := contactName(c, 0)
	if err != nil {
		return err
	}
	key, err := contactKey(c, 1)
	if err != nil {
		return err
	}
	path, err := contactsPath(c)
	if err != nil {
		return err
	}
	var prev contacts.Contact
	var existed bool
	err = contacts.Update(path, func(f *contacts.File) error {
		prev, existed = f.Lookup(name)
		ct := contacts.Contact{Name: name, Key: key, Host: prev.Host, Verified: true}
		if prev.Key == key {
			ct.Seq = prev.Seq // the same key: its records' count goes on
		}
		return f.Set(ct)
	})
	if err != nil {
		return contactsFileError(err)
	}
	switch {
	case !existed:
		say(c, "added %s (%s), marked verified", name, key)
	case prev.Key == key:
		say(c, "marked %s verified", name)
	default:
		say(c, "%s is now pinned to %s (was %s), marked verified", name, key, prev.Key)
	}
	return nil
}

func add(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 2, 2); err != nil {
		return err
	}
	name, err := contactName(c, 0)
	if err != nil {
		return err
	}
	key, err := contactKey(c, 1)
	if err != nil {
		return err
	}
	host, err := host(c)
	if err != nil {
		return err
	}
	path, err := contactsPath(c)
	if err != nil {
		return err
	}
	var done string
	err = contacts.Update(path, func(f *contacts.File) error {
		prev, ok := f.Lookup(name)
		switch {
		case !ok:
			done = fmt.Sprintf("added %s (%s)", name, key)
			return f.Set(contacts.Contact{Name: name, Key: key, Host: host})
		case prev.Key != key:
			return cli.Errorf("%s is pinned to another key, %s", name, prev.Key).WithExitCode(exitKeyChanged).
				WithHintf("to change it after comparing safety numbers, run: smvs-register trust %s %s", name, key)
		case host != "":
			done = fmt.Sprintf("%s is a contact already; set its host to %s", name, host)
			prev.Host = host
			return f.Set(prev)
		}
		done = fmt.Sprintf("%s is a contact already, with that key", name)
		return nil
	})
	if err != nil {
		return contactsFileError(err)
	}
	say(c, "%s", done)
	return nil
}

func listContacts(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	path, err := contactsPath(c)
	if err != nil {
		return err
	}
	f, err := contacts.Load(path)
	if err != nil {
		return contactsFileError(err)
	}
	for _, ct := range f.Contacts() {
		if !c.Bool("json") {
			fmt.Fprintln(c.App.Writer, ct)
			continue
		}
		out := contactJSON{Name: ct.Name, ID: ct.Key.String(), Host: ct.Host, Verified: ct.Verified, Contact: true, Seq: ct.Seq}
		if err := printJSON(c, out); err != nil {
			return err
		}
	}
	return nil
}
