package store

import "bytes"

// rotation is the key change of a transaction that deleted messages: a new
// root key, and new keys for the conversations that lost messages.
type rotation struct {
	root    *root
	convs   map[int64]*conversation
	byPeer  map[string]*conversation
	fresh   []*conversation // conversations with new keys
	retired []*conversation // conversations whose keys are replaced or gone
}

// keptQuery tells whether a conversation that lost messages keeps anything:
// a message, a link or a default expiry. One that keeps nothing is deleted.
const keptQuery = `SELECT EXISTS (SELECT 1 FROM messages WHERE conv = ?1)
	OR EXISTS (SELECT 1 FROM links WHERE conv = ?1)
	OR EXISTS (SELECT 1 FROM conversations WHERE id = ?1 AND expire IS NOT NULL)`

// prepareRotation re-keys, inside b's transaction, every conversation that
// lost messages (or deletes it if it keeps nothing: keptQuery), wraps every
// conversation key under a new root key with new tags, and writes root.key
// with both the current and the new root key, so that a crash before or
// after the commit leaves a key that opens the database (Open keeps the one
// the database names).
func (s *Store) prepareRotation(b *batch) (_ *rotation, err error) {
	rot := &rotation{
		root:   newRoot(s.root.gen+1, newKey()),
		convs:  make(map[int64]*conversation, len(s.convs)),
		byPeer: make(map[string]*conversation, len(s.convs)),
	}
	defer func() {
		if err != nil {
			rot.wipeNew()
		}
	}()
	for id, c := range s.convs {
		if b.dropped[id] {
			rot.retired = append(rot.retired, c)
			continue
		}
		next := c
		if b.rekey[id] {
			var left bool
			if err := b.queryRow(keptQuery, id).Scan(&left); err != nil {
				return nil, fail("counting messages", err)
			}
			rot.retired = append(rot.retired, c)
			if !left {
				if _, err := b.exec("deleting a conversation", `DELETE FROM conversations WHERE id = ?`, id); err != nil {
					return nil, err
				}
				continue
			}
			next = newConversation(id, c.peer, newKey())
			rot.fresh = append(rot.fresh, next)
			if err := b.rekeyMessages(c, next); err != nil {
				return nil, err
			}
			if _, err := b.exec("re-keying a conversation", `UPDATE conversations SET peer = ? WHERE id = ?`, next.sealPeer(), id); err != nil {
				return nil, err
			}
			if err := b.rekeyColumns(c, next); err != nil {
				return nil, err
			}
			if err := b.rekeyLinks(c, next); err != nil {
				return nil, err
			}
		}
		if _, err := b.exec("re-wrapping a conversation key", `UPDATE conversations SET tag = ?, key = ? WHERE id = ?`,
			rot.root.tag(next.peer), rot.root.wrapConversation(id, next.key), id); err != nil {
			return nil, err
		}
		rot.convs[id] = next
		rot.byPeer[string(next.peer)] = next
	}
	if _, err := b.exec("rotating the root key", `UPDATE root SET gen = ?, verifier = ?`, rot.root.gen, rot.root.verifier); err != nil {
		return nil, err
	}
	if err := s.writeRootFile(s.root, rot.root); err != nil {
		s.rootStale = true // it may have been written before the failure
		return nil, fail("rotating the root key", err)
	}
	return rot, nil
}

// rekeyMessages re-wraps the data key of every message of old under next
// and recomputes its tag; bodies are not touched.
func (b *batch) rekeyMessages(old, next *conversation) error {
	return b.rekeyRows("messages", "key", `SELECT seq, key, head FROM messages
		WHERE conv = ? AND seq > ? ORDER BY seq LIMIT 512`, old.id,
		func(seq uint64, wrapped, headCT []byte) ([]byte, []byte, error) {
			key, err := old.unwrapDataKey(seq, wrapped)
			if err != nil {
				return nil, nil, err
			}
			defer clear(key)
			h, err := sealed{newAEAD(bytes.Clone(key))}.openHead(seq, headCT)
			if err != nil {
				return nil, nil, err
			}
			return next.messageTag(h.Direction, h.ID), next.wrapDataKey(seq, key), nil
		})
}

// rekeyRows rewrites the tag and one other column of every row of a
// conversation in table, a page at a time: page selects the seq and two
// blobs of the rows of conversation conv after a seq, and redo returns a
// row's new tag and column.
func (b *batch) rekeyRows(table, column, page string, conv int64, redo func(seq uint64, x, y []byte) (tag, value []byte, err error)) error {
	update := `UPDATE ` + table + ` SET tag = ?, ` + column + ` = ? WHERE seq = ?`
	type row struct {
		seq        int64
		tag, value []byte
	}
	for after := int64(0); ; {
		rows, err := b.query(page, conv, after)
		if err != nil {
			return fail("re-keying a conversation", err)
		}
		var done []row
		for rows.Next() {
			var seq int64
			var x, y []byte
			if err := rows.Scan(&seq, &x, &y); err != nil {
				rows.Close()
				return fail("re-keying a conversation", err)
			}
			tag, value, err := redo(uint64(seq), x, y)
			if err != nil {
				rows.Close()
				return fail("re-keying a conversation", err)
			}
			done = append(done, row{seq, tag, value})
		}
		if err := rows.Close(); err != nil {
			return fail("re-keying a conversation", err)
		}
		if len(done) == 0 {
			return nil
		}
		for _, r := range done {
			if _, err := b.exec("re-keying a conversation", update, r.tag, r.value, r.seq); err != nil {
				return err
			}
		}
		after = done[len(done)-1].seq
	}
}

// rekeyColumns encrypts what old's conversations row keeps under its key
// (the peer's record, the default expiry), where it has it, under next.
func (b *batch) rekeyColumns(old, next *conversation) error {
	for _, col := range []struct{ name, what string }{{"record", convRecord}, {"expire", convExpire}} {
		var sealed []byte
		err := b.queryRow(`SELECT `+col.name+` FROM conversations WHERE id = ?`, old.id).Scan(&sealed)
		if err != nil {
			return fail("re-keying a conversation", err)
		}
		if sealed == nil {
			continue
		}
		p, err := old.openColumn(col.what, sealed)
		if err != nil {
			return fail("re-keying a conversation", err)
		}
		_, err = b.exec("re-keying a conversation", `UPDATE conversations SET `+col.name+` = ? WHERE id = ?`,
			next.sealColumn(col.what, p), old.id)
		if err != nil {
			return err
		}
	}
	return nil
}

// install makes the rotated keys the store's; the caller holds s.mu and has
// committed.
func (rot *rotation) install(s *Store) {
	s.root, rot.root = rot.root, s.root
	s.convs, s.byPeer = rot.convs, rot.byPeer
}

// finish rewrites root.key with the new root key alone and clears the old
// keys. If root.key can't be written, the writer tries again after its next
// commit, and Open does; until then the old root key is still in root.key,
// which finish reports.
func (rot *rotation) finish(s *Store) error {
	err := s.writeRootFile(s.root)
	s.rootStale = err != nil
	rot.root.wipe() // the old root, after install
	for _, c := range rot.retired {
		c.wipe()
	}
	return err
}

// abandon clears the new keys of a rotation whose commit failed. root.key
// keeps both root keys for now: a commit that reported failure may still
// have reached the WAL, and SQLite would find it after a crash. The next
// successful commit overwrites any such remains, and then root.key is
// rewritten; Open, which sees what the database holds, also settles it.
func (rot *rotation) abandon(s *Store) {
	rot.wipeNew()
	s.rootStale = true
}

func (rot *rotation) wipeNew() {
	rot.root.wipe()
	for _, c := range rot.fresh {
		c.wipe()
	}
}
