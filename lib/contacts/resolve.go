package contacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

// Directory is where a Resolver looks records up; a *dirclient.Client is
// one. It answers an unknown name or key with an error that matches
// dirclient.ErrNotFound. Its String names it in messages.
type Directory interface {
	LookupName(ctx context.Context, name string) ([]byte, error)
	LookupKey(ctx context.Context, key identity.PublicKey) ([]byte, error)
	String() string
}

var (
	// ErrNotFound means neither the contacts file nor any directory knows
	// the name or key.
	ErrNotFound = errors.New("not found")
	// ErrBadRecord means a directory served a record that fails
	// verification: a bad signature, another name or key than asked for,
	// or an expired record. The directory is broken or lying.
	ErrBadRecord = errors.New("bad record")
)

// KeyChangedError means a directory gives a contact a key other than the
// pinned one, with no rotation signed by the pinned key. It may be an
// attack, or the contact may have lost their key; only comparing safety
// numbers out of band tells which.
type KeyChangedError struct {
	Name      string
	Pinned    identity.PublicKey // the key in the contacts file
	Got       identity.PublicKey // the key the directory gives
	Directory string             // the directory that gave it
	// ChainFull means the record carries as many rotations as a record
	// may (wire.MaxRotations): the pinned key may be one rotated away
	// longer ago than the record remembers.
	ChainFull bool
}

func (e *KeyChangedError) Error() string {
	if e.ChainFull {
		return fmt.Sprintf("the key of %q changed: pinned %s, but %s gives %s, whose chain of the last %d rotations "+
			"does not lead from the pinned key (rotated more than %d times since, or not signed by it)",
			e.Name, e.Pinned, e.Directory, e.Got, wire.MaxRotations, wire.MaxRotations)
	}
	return fmt.Sprintf("the key of %q changed: pinned %s, but %s gives %s, with no rotation signed by the pinned key",
		e.Name, e.Pinned, e.Directory, e.Got)
}

// Hint says what the user can do about it.
func (e *KeyChangedError) Hint() string {
	return fmt.Sprintf("if %s really has a new key, compare safety numbers out of band (smvs-register verify %s), "+
		"then accept it with: smvs-register trust %s %s", e.Name, e.Name, e.Name, e.Got)
}

// RollbackError means a directory served a record of a key with a lower
// sequence number than a record of that key already accepted: an old
// record, which may send messages to a host its owner left or to a KEM
// key they retired. It matches ErrBadRecord.
type RollbackError struct {
	Directory string // the directory that served it
	Who       string // the contact's name, or the key for a key not in the contacts file
	Seen      uint64 // the highest sequence number accepted before
	Served    uint64 // the sequence number of the record served
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("directory %s: %s's record went back from sequence %d to %d: refusing it (a directory serving an old record)",
		e.Directory, e.Who, e.Seen, e.Served)
}

// Is makes errors.Is(err, ErrBadRecord) true.
func (e *RollbackError) Is(target error) bool { return target == ErrBadRecord }

// Hint says what the user can do about it.
func (e *RollbackError) Hint() string {
	return fmt.Sprintf("the directory is out of date or replaying an old record of %s; nothing was changed. "+
		"Try again later or with another directory (--dir)", e.Who)
}

// Change is what Resolve changed in the contacts file.
type Change int

// The changes Resolve makes.
const (
	Unchanged Change = iota
	Pinned           // a new contact, pinned on first use
	Rotated          // re-pinned to a new key by a chain of rotations that starts with one the pinned key signed
)

// Resolved is a contact as Resolve found it.
type Resolved struct {
	// Contact is the contact as it is pinned now. For a key that is not
	// in the contacts file, it is the record's name and key, and InFile
	// is false.
	Contact Contact
	InFile  bool
	// Record is the verified, unexpired record for Contact.Key, as
	// Signed. It is nil when the contact resolved from the contacts file
	// alone (no directory has a record for it). Its KEM key may have
	// expired: a sender must check.
	Record    *wire.Record
	Signed    []byte
	Directory string // the directory that served Record
	// Change is what Resolve changed in the contacts file; for Rotated,
	// Previous is the key that was pinned before, and Steps how many
	// rotations of the record's chain led from it to Contact.Key.
	Change   Change
	Previous identity.PublicKey
	Steps    int
	// Skipped are the errors of directories that failed or served a bad
	// record when the contact resolved nonetheless.
	Skipped []error
	// Self means the key is the Resolver's Self: the user looked
	// themselves up. Resolve does not pin it.
	Self bool
}

// Host returns the address of the contact's host: the contacts file's
// host=, else the record's, else "".
func (r *Resolved) Host() string {
	if r.Contact.Host != "" {
		return r.Contact.Host
	}
	if r.Record != nil {
		return r.Record.Host
	}
	return ""
}

// Resolver resolves contacts through the contacts file and directories.
// It is safe for concurrent use if its directories are, and must not be
// copied after first use (it holds the marks of keys it accepted).
type Resolver struct {
	Path        string           // the contacts file
	Directories []Directory      // asked in order; none means the contacts file alone
	Now         func() time.Time // time.Now if nil
	// Self is the user's own identity key, if known: Resolve never pins
	// it as a contact.
	Self identity.PublicKey

	// marks are the highest sequence numbers this Resolver accepted, by
	// key. Contacts' marks last in the contacts file (seq=); for a key
	// not in it, a stranger looked up by key (as a host does for every
	// peer that writes to it), the mark is kept here only, for the
	// Resolver's lifetime: the contacts file holds only the user's
	// contacts, and a file of every stranger ever looked up would be a
	// lasting record of who wrote to the user, and a disk write for each
	// new one in a flood. A stranger is not pinned either, so their first
	// look-up in a process trusts what it gets, as pinning does.
	mu    sync.Mutex
	marks map[identity.PublicKey]*mark
	uses  uint64 // a clock for mark.used
}

// maxMarks bounds the marks a Resolver keeps in memory; past it, the one
// used least recently is forgotten.
const maxMarks = 4096

type mark struct {
	seq  uint64
	used uint64 // Resolver.uses when it was last looked at or raised
}

// seen returns the highest sequence number accepted for key: on its lines
// in f, and in r's memory.
func (r *Resolver) seen(f *File, key identity.PublicKey) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := f.seq(key)
	if m := r.marks[key]; m != nil {
		r.uses++
		m.used = r.uses
		seq = max(seq, m.seq)
	}
	return seq
}

// remember raises key's mark in memory to seq.
func (r *Resolver) remember(key identity.PublicKey, seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uses++
	if m := r.marks[key]; m != nil {
		m.seq, m.used = max(m.seq, seq), r.uses
		return
	}
	if r.marks == nil {
		r.marks = make(map[identity.PublicKey]*mark)
	}
	if len(r.marks) >= maxMarks {
		var oldest identity.PublicKey
		least := r.uses
		for k, m := range r.marks {
			if m.used < least {
				oldest, least = k, m.used
			}
		}
		delete(r.marks, oldest)
	}
	r.marks[key] = &mark{seq: seq, used: r.uses}
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Resolve finds the contact that query names: a name, or a public id
// "smvs1…" (see ParseQuery).
//
// For a name, it asks the directories in order for the name's record, and
// takes the first one that verifies, carries that name, has not expired
// and is not a rollback: its sequence number is not below the highest
// accepted for its key (the contacts file's seq=, or the Resolver's
// memory for a key not in the file); a record at the same number is
// accepted, as only the key can sign one. A refused record is a
// *RollbackError, and the next directory is asked. If the contacts file has no key for the name yet, it pins the
// record's key (trust on first use) and saves the file. If the pinned key
// differs, it accepts the new key only if the record's chain of rotations
// (wire.Record.Chain: each statement signed by the key before, at most
// wire.MaxRotations) leads from the pinned key to it, then re-pins the
// contact to it, keeping its verified mark: each step was signed by the
// key before it, back to the one the user verified. Any other change is a
// *KeyChangedError, and the file is left as it was. If no directory has the name's record, a pinned contact
// resolves by its key, or else from the contacts file alone. A record of
// the user's own key (Self) is never pinned.
//
// For a key, it asks for that key's record, and verifies that the record
// is the key's; it changes nothing in the contacts file but seq=, unless
// the key is no contact's and its record's chain leads from a contact's
// pinned key: then that contact is re-pinned to it, as for a name.
//
// A record accepted with a higher sequence number raises seq= on the
// lines of its key, under the lock, and the file is written only then;
// a new key pinned by a rotation starts at its record's number. If a
// directory served a rollback and none served a good record, Resolve
// fails with the *RollbackError, even for a contact the file alone could
// resolve: the user must know that a directory serves old records.
func (r *Resolver) Resolve(ctx context.Context, query string) (*Resolved, error) {
	key, name, err := ParseQuery(query)
	if err != nil {
		return nil, err
	}
	f, err := Load(r.Path)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return r.resolveKey(ctx, f, key, nil)
	}
	return r.resolveName(ctx, f, name)
}

func (r *Resolver) resolveName(ctx context.Context, f *File, name string) (*Resolved, error) {
	pinned, isPinned := f.Lookup(name)
	found, skipped, err := r.fetch(ctx, f, fmt.Sprintf("%q", name), name, nil,
		func(d Directory) ([]byte, error) { return d.LookupName(ctx, name) },
		func(rec *wire.Record) error {
			if rec.Name != name {
				return fmt.Errorf("it is the record of %q", rec.Name)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if found == nil {
		if !isPinned {
			return nil, r.notFound(fmt.Sprintf("%q", name), skipped)
		}
		return r.resolveKey(ctx, f, pinned.Key, skipped)
	}
	found.Skipped = skipped
	got, seq := found.Contact.Key, found.Record.Seq
	found.Self = got == r.Self
	switch {
	case isPinned && pinned.Key == got && f.seq(got) >= seq:
		found.Contact, found.InFile = pinned, true
		r.remember(got, seq)
		return found, nil
	case found.Self && !isPinned:
		r.remember(got, seq)
		return found, nil
	}
	// Pin, re-pin after a rotation or raise seq=, under the lock,
	// deciding again on the file as it is now: another process may have
	// pinned, or accepted a newer record, meanwhile.
	err = Update(r.Path, func(f *File) error {
		if seen := f.seq(got); seq < seen {
			return &RollbackError{Directory: found.Directory, Who: name, Seen: seen, Served: seq}
		}
		c, ok := f.Lookup(name)
		switch {
		case !ok:
			c, found.Change = Contact{Name: name, Key: got, Seq: seq}, Pinned
		case c.Key == got:
			found.Change = Unchanged
		case chainSteps(found.Record, c.Key) > 0:
			// The new key's count starts with this record; verified
			// stays, as every step was signed by the key before it.
			found.Previous, found.Change, found.Steps = c.Key, Rotated, chainSteps(found.Record, c.Key)
			c.Key, c.Seq = got, seq
		default:
			return &KeyChangedError{Name: name, Pinned: c.Key, Got: got, Directory: found.Directory,
				ChainFull: len(found.Record.PreviousKeys()) >= wire.MaxRotations}
		}
		if found.Change != Unchanged {
			if err := f.Set(c); err != nil {
				return err
			}
		}
		f.raiseSeq(got, seq)
		found.Contact, found.InFile = c, true
		found.Contact.Seq = max(c.Seq, seq)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.remember(got, seq)
	return found, nil
}

// resolveKey resolves key; prior are the errors of directories skipped
// before (looking its contact up by name).
func (r *Resolver) resolveKey(ctx context.Context, f *File, key identity.PublicKey, prior []error) (*Resolved, error) {
	entry, inFile := f.LookupKey(key)
	who := key.String()
	if inFile {
		who = entry.Name
	}
	found, skipped, err := r.fetch(ctx, f, key.String(), who, prior,
		func(d Directory) ([]byte, error) { return d.LookupKey(ctx, key) },
		func(rec *wire.Record) error {
			if !bytes.Equal(rec.Identity, key.Bytes()) {
				return fmt.Errorf("it is the record of another key")
			}
			return nil
		})
	self := key == r.Self
	switch {
	case err != nil:
		return nil, err
	case found != nil && !inFile && !self:
		found.Skipped = skipped
		if prev, ok := pinnedInChain(f, found.Record); ok {
			return r.repin(found, prev)
		}
		r.remember(key, found.Record.Seq)
		return found, nil
	case found != nil:
		found.Skipped, found.Self = skipped, self
		seq := found.Record.Seq
		if inFile && f.seq(key) < seq {
			err := Update(r.Path, func(f *File) error {
				if seen := f.seq(key); seq < seen {
					return &RollbackError{Directory: found.Directory, Who: who, Seen: seen, Served: seq}
				}
				f.raiseSeq(key, seq)
				return nil
			})
			if err != nil {
				return nil, err
			}
			entry.Seq = seq
		}
		if inFile {
			found.Contact, found.InFile = entry, true
		}
		r.remember(key, seq)
		return found, nil
	case inFile && rollback(skipped) == nil:
		return &Resolved{Contact: entry, InFile: true, Skipped: skipped, Self: self}, nil
	}
	return nil, r.notFound(key.String(), skipped)
}

// chainSteps returns how many rotations of rec's verified chain lead from
// key to rec's identity key: 0 if key is not in the chain.
func chainSteps(rec *wire.Record, key identity.PublicKey) int {
	prev := rec.PreviousKeys()
	for i, k := range prev {
		if bytes.Equal(k, key.Bytes()) {
			return len(prev) - i
		}
	}
	return 0
}

// pinnedInChain returns the newest key of rec's chain that f pins as a
// contact's, if any.
func pinnedInChain(f *File, rec *wire.Record) (identity.PublicKey, bool) {
	prev := rec.PreviousKeys()
	for i := len(prev) - 1; i >= 0; i-- {
		k, err := identity.NewPublicKey(identity.KindIdentity, prev[i])
		if err != nil {
			continue
		}
		if _, ok := f.LookupKey(k); ok {
			return k, true
		}
	}
	return identity.PublicKey{}, false
}

// repin re-pins, under the lock, the contact pinned to prev (a key of
// found's chain) to found's key: a key that wrote to the user, looked up
// by key, turned out to be a contact's new key. It decides again on the
// file as it is now; if no contact is pinned to prev any more, found is
// returned as a stranger's.
func (r *Resolver) repin(found *Resolved, prev identity.PublicKey) (*Resolved, error) {
	got, seq := found.Contact.Key, found.Record.Seq
	err := Update(r.Path, func(f *File) error {
		c, ok := f.LookupKey(prev)
		if !ok {
			if c, ok = f.LookupKey(got); ok {
				found.Contact, found.InFile = c, true // re-pinned meanwhile
			}
			return nil
		}
		if seen := f.seq(got); seq < seen {
			return &RollbackError{Directory: found.Directory, Who: c.Name, Seen: seen, Served: seq}
		}
		found.Previous, found.Change, found.Steps = prev, Rotated, chainSteps(found.Record, prev)
		c.Key, c.Seq = got, seq
		if err := f.Set(c); err != nil {
			return err
		}
		f.raiseSeq(got, seq)
		found.Contact, found.InFile = c, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.remember(got, seq)
	return found, nil
}

// rollback returns the first *RollbackError in errs, or nil.
func rollback(errs []error) error {
	for _, err := range errs {
		if rb := (*RollbackError)(nil); errors.As(err, &rb) {
			return err
		}
	}
	return nil
}

// notFound is the error for what when no directory had a good record:
// the first directory's error if one failed or served a bad record (the
// first rollback, if any, which matters most), else ErrNotFound.
func (r *Resolver) notFound(what string, skipped []error) error {
	switch {
	case len(skipped) == 0 && len(r.Directories) == 0:
		return notFoundError(what + " not found in the contacts file")
	case len(skipped) == 0:
		return notFoundError(what + " not found in the contacts file or any directory")
	case len(skipped) == 1:
		return skipped[0]
	}
	first := skipped[0]
	if rb := rollback(skipped); rb != nil {
		first = rb
	}
	return fmt.Errorf("%w (and %d more directories failed)", first, len(skipped)-1)
}

// notFoundError says where a contact was looked for; it matches
// ErrNotFound.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// fetch asks the directories in order, with lookup, for the record of
// what, and returns the first one that verifies, has not expired, passes
// check and is no rollback (see seen; who names its owner in a
// *RollbackError), with prior and the errors of the directories before
// it. It returns nil and no error if no directory has a good record; a
// context error ends it.
func (r *Resolver) fetch(ctx context.Context, f *File, what, who string, prior []error,
	lookup func(Directory) ([]byte, error), check func(*wire.Record) error) (*Resolved, []error, error) {
	skipped := prior
	for _, d := range r.Directories {
		signed, err := lookup(d)
		if errors.Is(err, dirclient.ErrNotFound) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			skipped = append(skipped, err)
			continue
		}
		rec, key, err := r.verify(signed, check)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("directory %s: %w for %s: %v", d, ErrBadRecord, what, err))
			continue
		}
		if seen := r.seen(f, key); rec.Seq < seen {
			skipped = append(skipped, &RollbackError{Directory: d.String(), Who: who, Seen: seen, Served: rec.Seq})
			continue
		}
		return &Resolved{Contact: Contact{Name: rec.Name, Key: key}, Record: rec, Signed: signed, Directory: d.String()}, skipped, nil
	}
	return nil, skipped, nil
}

// verify checks a signed record from a directory: its signature, the
// name and host rules, that it has not expired, that its KEM key id is
// the key's, and check.
func (r *Resolver) verify(signed []byte, check func(*wire.Record) error) (*wire.Record, identity.PublicKey, error) {
	var key identity.PublicKey
	if len(signed) > dirclient.MaxRecordSize {
		return nil, key, fmt.Errorf("%d bytes, limit %d", len(signed), dirclient.MaxRecordSize)
	}
	rec, err := wire.VerifyRecord(signed)
	if err != nil {
		return nil, key, err
	}
	if key, err = identity.NewPublicKey(identity.KindIdentity, rec.Identity); err != nil {
		return nil, key, err
	}
	if err := checkRules(rec); err != nil {
		return nil, key, err
	}
	if err := check(rec); err != nil {
		return nil, key, err
	}
	if expires := time.UnixMilli(rec.Expires); !expires.After(r.now()) {
		return nil, key, fmt.Errorf("it expired at %s", expires.UTC().Format(time.RFC3339))
	}
	if !bytes.Equal(rec.KEM.ID, identity.KEMKeyID(rec.KEM.Key)) {
		return nil, key, errors.New("its KEM key id does not match its KEM key")
	}
	return rec, key, nil
}

// checkRules holds a record to the rules a directory holds it to when it
// is published, whoever served it (a directory by name or by key, a host,
// the store's last verified copy): its name, if any, is a valid name as
// given, and its host, if any, is HOST:PORT with no space or control
// character. A record that breaks them carries text nobody should print.
func checkRules(rec *wire.Record) error {
	if rec.Name != "" {
		if err := names.Check(rec.Name); err != nil {
			return err
		}
	}
	if rec.Host != "" {
		return CheckHost(rec.Host)
	}
	return nil
}
