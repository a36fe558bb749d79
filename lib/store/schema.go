package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema's steps in order; PRAGMA user_version counts
// those a database has had. Append new steps; never change one.
//
// No column holds anything readable: tags are HMACs under keys derived from
// the root or a conversation key, keys are wrapped, and every other blob is
// AES-GCM under a message's data key or a key derived from a conversation
// key. What the layout does show is listed in the package doc.
var migrations = []string{
	`CREATE TABLE root (
		id       INTEGER PRIMARY KEY CHECK (id = 1),
		gen      INTEGER NOT NULL CHECK (gen > 0),
		verifier BLOB NOT NULL
	) STRICT;
	CREATE TABLE conversations (
		id   INTEGER PRIMARY KEY,
		tag  BLOB NOT NULL UNIQUE,
		key  BLOB NOT NULL,
		peer BLOB NOT NULL
	) STRICT;
	CREATE TABLE messages (
		seq    INTEGER PRIMARY KEY AUTOINCREMENT,
		conv   INTEGER NOT NULL REFERENCES conversations (id),
		tag    BLOB NOT NULL UNIQUE,
		key    BLOB NOT NULL,
		head   BLOB NOT NULL,
		body   BLOB NOT NULL,
		signed BLOB
	) STRICT;
	CREATE INDEX messages_conv ON messages (conv, seq);
	CREATE TABLE outbox (
		seq      INTEGER PRIMARY KEY REFERENCES messages (seq),
		envelope BLOB NOT NULL,
		retry    BLOB NOT NULL
	) STRICT`,
	// The peer's signed record as the host last verified it, encrypted
	// under the conversation key (SetPeerRecord).
	`ALTER TABLE conversations ADD COLUMN record BLOB`,
	// Links: what a message leaves for its conversation's chain, kept after
	// the message is deleted (Links), encrypted under the conversation key
	// and found for deduplication by the message's tag. Which messages
	// expire (the time stays in the message's head). The conversation's
	// default expiry, encrypted under the conversation key. Stores that had
	// messages before links get theirs at the next Open (root.unlinked).
	`CREATE TABLE links (
		seq  INTEGER PRIMARY KEY,
		conv INTEGER NOT NULL REFERENCES conversations (id),
		tag  BLOB NOT NULL,
		data BLOB NOT NULL
	) STRICT;
	CREATE INDEX links_conv ON links (conv, seq);
	CREATE INDEX links_tag ON links (tag);
	CREATE TABLE expiring (
		seq INTEGER PRIMARY KEY REFERENCES messages (seq)
	) STRICT;
	ALTER TABLE conversations ADD COLUMN expire BLOB;
	ALTER TABLE root ADD COLUMN unlinked INTEGER NOT NULL DEFAULT 0;
	UPDATE root SET unlinked = 1`,
	// Streamed bodies rest in blob files (blobs.go): a message's row names
	// its blob (16 random bytes) and keeps the blob's size, for the
	// received-bytes count.
	`ALTER TABLE messages ADD COLUMN blob BLOB;
	ALTER TABLE messages ADD COLUMN blobsize INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX messages_blob ON messages (blob) WHERE blob IS NOT NULL`,
}

const (
	insertMessage = `INSERT INTO messages (seq, conv, tag, key, head, body, signed, blob, blobsize) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tag) DO NOTHING`
	insertOutbox = `INSERT INTO outbox (seq, envelope, retry) VALUES (?, ?, ?)`
	insertLink   = `INSERT INTO links (seq, conv, tag, data) VALUES (?, ?, ?, ?)`
	// messageColumns are read by scanMessage, in this order.
	messageColumns = `seq, conv, key, head, body, signed`
	// headColumns are read by scanHead: no body, and no signed bytes,
	// which hold an inline body.
	headColumns = `seq, conv, key, head`
)

// migrate brings the schema up to date in one transaction on conn.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's (%d)", version, len(migrations))
	}
	for i, step := range migrations[version:] {
		if _, err := conn.ExecContext(ctx, step); err != nil {
			return fmt.Errorf("schema step %d: %w", version+i+1, err)
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
