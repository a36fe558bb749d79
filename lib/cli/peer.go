package cli

import (
	"encoding/hex"

	"smvs/lib/identity"
)

// Peer is a peer as every command shows it: its identity key, and the
// user's own name for it if it is a contact (Name), or else the name its
// directory record claims (Claimed). A claimed name is anyone's to take,
// so it is never shown where a contact's name goes: Label marks it as
// claimed, and --json outputs give it a field of its own.
type Peer struct {
	Key     []byte
	Name    string // the user's name for the peer: a contact's, from a contacts file
	Claimed string // the name the peer's record claims; empty when Name is set
}

// NewPeer is the peer with key, named name by the user's contacts, or, if
// it is none of them, claiming the name claimed.
func NewPeer(key []byte, name, claimed string) Peer {
	if name != "" {
		claimed = "" // a contact is who the user says, whatever its record says
	}
	return Peer{Key: key, Name: name, Claimed: claimed}
}

// KeyPrefixLen is how many characters of a key Label shows: "smvs1" and
// eleven more, 55 bits, enough to tell apart the keys one user meets.
const KeyPrefixLen = 16

// Label names the peer on a terminal: a contact by its name, a stranger
// by the start of its key and the name it claims, "smvs1xe4uq8n2kfp…
// (says frank)", or the start of its key alone. Names are escaped.
func (p Peer) Label() string {
	id := p.ID()
	if len(id) > KeyPrefixLen {
		id = id[:KeyPrefixLen] + "…"
	}
	return p.label(id)
}

// LongLabel is Label with the whole key: "frank (smvs1…)" for a contact,
// "smvs1… (says frank)" for a stranger; for where the user may want to
// check the key, such as a call ringing.
func (p Peer) LongLabel() string {
	if p.Name != "" {
		return Escape(p.Name) + " (" + p.ID() + ")"
	}
	return p.label(p.ID())
}

func (p Peer) label(id string) string {
	switch {
	case p.Name != "":
		return Escape(p.Name)
	case p.Claimed != "":
		return id + " (says " + Escape(p.Claimed) + ")"
	}
	return id
}

// ID is the peer's public id, smvs1…, or its key bytes in hexadecimal if
// they are no identity key.
func (p Peer) ID() string {
	key, err := identity.NewPublicKey(identity.KindIdentity, p.Key)
	if err != nil {
		return hex.EncodeToString(p.Key)
	}
	return key.String()
}
