// Command turnserver is a small TURN server for the end-to-end tests: UDP
// on a loopback address, relaying from that same address.
//
//	turnserver --listen 127.0.0.1:0 --realm smvs --user NAME=PASSWORD
//	turnserver --users-file FILE   (lines of NAME=PASSWORD)
//
// It prints "turnserver: listening on ADDRESS" on stdout when ready, logs
// each allocation on stderr, and stops on SIGTERM or SIGINT.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"smvs/lib/call/calltest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "turnserver: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := calltest.TURNConfig{Users: map[string]string{}, Log: os.Stderr}
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "UDP `address` to listen and relay on")
	flag.StringVar(&cfg.Realm, "realm", "smvs", "the TURN `realm`")
	flag.Func("user", "a user as `NAME=PASSWORD` (repeatable)", func(v string) error {
		return addUser(cfg.Users, v)
	})
	usersFile := flag.String("users-file", "", "a `file` of NAME=PASSWORD lines")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if *usersFile != "" {
		if err := readUsers(cfg.Users, *usersFile); err != nil {
			return err
		}
	}
	if len(cfg.Users) == 0 {
		return errors.New("no users: give --user NAME=PASSWORD or --users-file")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	s, err := calltest.ListenTURN(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("turnserver: listening on %s\n", s.Addr)
	<-stop
	return s.Close()
}

func addUser(users map[string]string, v string) error {
	name, pass, ok := strings.Cut(v, "=")
	if !ok || name == "" || pass == "" {
		return errors.New("a user is NAME=PASSWORD, both not empty")
	}
	users[name] = pass
	return nil
}

func readUsers(users map[string]string, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := addUser(users, line); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return lines.Err()
}
