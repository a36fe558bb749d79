package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmts keeps the statements prepared on the write connection, or on the
// readers' pool, by query text. SQLite parses a query each time it is
// prepared, and preparing every statement again on every call took about
// 7% of a delivering host's CPU.
//
// Every query goes through one, except the schema's migration (scripts,
// run once at Open) and text that carries a value or a number of
// placeholders that varies (a pragma's value, ByID's IN lists): the map
// holds one statement per text, so the texts must come from a bounded set.
//
// On the write connection a statement must not run again while rows it
// returned are still open: it is the same SQLite statement. On the pool,
// database/sql prepares it again on each connection that runs it.
type stmts struct {
	conn interface {
		PrepareContext(context.Context, string) (*sql.Stmt, error)
	}
	m sync.Map // query text to *sql.Stmt
}

// stmt returns query prepared, preparing it the first time.
func (c *stmts) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if was, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close() // another reader prepared it meanwhile
		return was.(*sql.Stmt), nil
	}
	return st, nil
}

func (c *stmts) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (c *stmts) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is QueryRowContext: the error of preparing query, if any, comes
// from Scan.
func (c *stmts) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return failedRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// close closes the statements, once nothing runs them any more.
func (c *stmts) close() {
	c.m.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
}

// failedRow is the row of a query that could not be prepared.
type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }
