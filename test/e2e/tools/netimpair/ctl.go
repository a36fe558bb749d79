package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// The control protocol: the client sends its arguments as one line of
// JSON (an array of strings); the daemon answers one line, "ok", a JSON
// object (stats), or "error: " and why.

const ctlTimeout = 5 * time.Second

func runCtl(args []string) error {
	if len(args) < 2 {
		return usagef("usage: netimpair ctl SOCKET partition on|off [ab|ba] | set IMPAIRMENT... | stats")
	}
	conn, err := net.DialTimeout("unix", args[0], ctlTimeout)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ctlTimeout))
	request, _ := json.Marshal(args[1:])
	if _, err := fmt.Fprintf(conn, "%s\n", request); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("control socket: no answer: %w", err)
	}
	reply = strings.TrimSuffix(reply, "\n")
	if why, ok := strings.CutPrefix(reply, "error: "); ok {
		return errors.New(why)
	}
	if reply != "ok" {
		fmt.Println(reply)
	}
	return nil
}

// serve answers control connections until ln is closed.
func (im *impairer) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go im.answer(conn)
	}
}

func (im *impairer) answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ctlTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	var args []string
	reply := "ok"
	if err := json.Unmarshal([]byte(line), &args); err != nil {
		reply = "error: not a control request"
	} else if out, err := im.command(args); err != nil {
		reply = "error: " + strings.ReplaceAll(err.Error(), "\n", " ")
	} else if out != "" {
		reply = out
	}
	_, _ = io.WriteString(conn, reply+"\n")
}

// command carries out one control request and returns what to print.
func (im *impairer) command(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("no command")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "stats":
		if len(rest) > 0 {
			return "", fmt.Errorf("stats takes no argument, not %q", rest[0])
		}
		out, err := json.Marshal(im.stats())
		return string(out), err
	case "partition":
		return "", im.partition(rest)
	case "set":
		return "", im.set(rest)
	default:
		return "", fmt.Errorf("unknown command %q: want partition, set or stats", cmd)
	}
}

func (im *impairer) partition(args []string) error {
	if len(args) < 1 || len(args) > 2 || (args[0] != "on" && args[0] != "off") {
		return errors.New("usage: partition on|off [ab|ba]")
	}
	dirs, err := im.pick(args[1:])
	if err != nil {
		return err
	}
	for _, d := range dirs {
		d.mu.Lock()
		d.link.SetPartitioned(args[0] == "on")
		d.mu.Unlock()
	}
	return nil
}

// pick returns the direction named in args, or all when args is empty.
func (im *impairer) pick(args []string) ([]*direction, error) {
	if len(args) == 0 {
		return im.dirs, nil
	}
	i := slices.IndexFunc(im.dirs, func(d *direction) bool { return d.name == args[0] })
	if i < 0 {
		return nil, fmt.Errorf("no direction %q here", args[0])
	}
	return im.dirs[i : i+1], nil
}

func (im *impairer) set(args []string) error {
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error goes back to the client
	var settings impairSettings
	settings.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, d := range im.dirs {
		d.mu.Lock()
		d.link.SetParams(settings.apply(d.name, d.link.Params()))
		d.mu.Unlock()
	}
	return nil
}
