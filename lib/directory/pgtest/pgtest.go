// Package pgtest gives tests throwaway PostgreSQL databases.
//
// Each Start makes a new empty database, dropped when its test ends, on a
// server that is, in order of preference: the one named by the environment
// variable SMVS_TEST_POSTGRES; one shared by the whole test binary, when its
// TestMain calls Main; or one started for the test alone. Started servers
// run from a temporary directory, listen only on 127.0.0.1 and a socket in
// that directory, trust every local connection, and never sync to disk.
//
// A test that needs PostgreSQL fails, never skips, when it is not installed:
// scripts/install-deps installs it.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvServer is the environment variable that, set to the postgres:// URL
// of a database on a PostgreSQL server where tests may create and drop
// databases, makes Start use that server instead of starting one.
const EnvServer = "SMVS_TEST_POSTGRES"

// startTimeout bounds starting and stopping a server.
const startTimeout = 60 * time.Second

var shared struct {
	sync.Mutex
	on  bool // Main is running the tests
	srv *server
	err error
}

// Main runs the tests of a test binary from its TestMain, letting them
// share one server, which it stops when they are done.
func Main(m *testing.M) {
	shared.Lock()
	shared.on = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	shared.Unlock()
	os.Exit(code)
}

// Start returns the URL of a new, empty database for t, which is dropped
// when t ends. It fails t if no server can be had.
func Start(t testing.TB) string {
	t.Helper()
	srv, err := serverFor(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	name := "smvs_test_" + strings.ToLower(rand.Text())
	if _, err := srv.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if _, err := srv.admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return srv.databaseURL(name)
}

// serverFor returns the server for t's databases.
func serverFor(t testing.TB) (*server, error) {
	env := os.Getenv(EnvServer)
	shared.Lock()
	own := env == "" && !shared.on
	shared.Unlock()
	if own {
		srv, err := start()
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			if err := srv.stop(); err != nil {
				t.Error(err)
			}
		})
		return srv, nil
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		if env != "" {
			shared.srv, shared.err = connect(env, nil)
		} else {
			shared.srv, shared.err = start()
		}
	}
	return shared.srv, shared.err
}

// server is a PostgreSQL server that tests make databases on.
type server struct {
	url   *url.URL      // of a database on the server
	admin *pgxpool.Pool // to create and drop databases
	// stopServer, if set, stops a server this package started.
	stopServer func() error
}

// connect connects to the server at dsn, a postgres:// URL.
func connect(dsn string, stopServer func() error) (*server, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("pgtest: %s must be a postgres:// URL", EnvServer)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cfg.MaxConns = 2
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = admin.Ping(ctx); err != nil {
			admin.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &server{url: u, admin: admin, stopServer: stopServer}, nil
}

// databaseURL returns the URL of the server's database name.
func (srv *server) databaseURL(name string) string {
	u := *srv.url
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func (srv *server) stop() error {
	srv.admin.Close()
	if srv.stopServer == nil {
		return nil
	}
	return srv.stopServer()
}

// start starts a server of its own in a new temporary directory.
func start() (*server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	// initdb refuses to run as root, so root runs the server as the
	// postgres user, in a directory that user owns.
	var asUser []string
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		if asUser, uid, gid, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "smvs-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		argv := append(slices.Clone(asUser), filepath.Join(bin, name))
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pgtest: %s: %w\n%s", name, err, out)
		}
		return nil
	}
	removeDir := func() { os.RemoveAll(dir) }

	err = run("initdb", "--pgdata", data, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	if err == nil {
		err = appendConf(filepath.Join(data, "postgresql.conf"), dir)
	}
	if err != nil {
		removeDir()
		return nil, err
	}
	logFile := filepath.Join(dir, "server.log")
	// A free port may be taken again before the server binds it: try a few.
	var port int
	for range 3 {
		if port, err = freePort(); err != nil {
			break
		}
		err = run("pg_ctl", "start", "--pgdata", data, "--log", logFile, "--wait",
			"--timeout", strconv.Itoa(int(startTimeout.Seconds())), "--options", "-p "+strconv.Itoa(port))
		if err == nil {
			break
		}
	}
	if err != nil {
		log, _ := os.ReadFile(logFile)
		removeDir()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	stop := func() error {
		defer removeDir()
		return run("pg_ctl", "stop", "--pgdata", data, "--mode", "fast", "--wait")
	}
	srv, err := connect(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop)
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	return srv, nil
}

// appendConf sets up the server for tests: reachable only from this
// machine, fast rather than durable.
func appendConf(conf, socketDir string) error {
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = fmt.Fprintf(f, `
# pgtest
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
`, strings.ReplaceAll(socketDir, "'", "''"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// findBin returns the directory of initdb and pg_ctl: from PATH, or the
// newest of Debian's /usr/lib/postgresql/VERSION/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(found) > 0 {
		version := func(p string) int {
			v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
			return v
		}
		return filepath.Dir(slices.MaxFunc(found, func(a, b string) int { return version(a) - version(b) })), nil
	}
	return "", errors.New("pgtest: PostgreSQL is not installed (no initdb in PATH or in /usr/lib/postgresql/*/bin): " +
		"run scripts/install-deps, which installs it, or set " + EnvServer + " to the URL of a server to use")
}

// postgresUser returns the command prefix that runs a program as the
// postgres user, and that user's ids.
func postgresUser() (prefix []string, uid, gid int, err error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses to: %w "+
			"(scripts/install-deps installs PostgreSQL, which creates that user)", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if p, err := exec.LookPath("runuser"); err == nil {
		return []string{p, "-u", "postgres", "--"}, uid, gid, nil
	}
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--reuid", u.Uid, "--regid", u.Gid, "--init-groups"}, uid, gid, nil
	}
	return nil, 0, 0, errors.New("pgtest: running as root, and neither runuser nor setpriv is there to run PostgreSQL as the postgres user")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
