package store

// undoLinks takes a database back to before schema step 3 (links, expiry),
// as a store made before it has it.
var undoLinks = []string{
	`DROP TABLE links`, `DROP TABLE expiring`, `ALTER TABLE conversations DROP COLUMN expire`,
	`ALTER TABLE root DROP COLUMN unlinked`, `PRAGMA user_version = 2`,
}
