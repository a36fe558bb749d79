package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// direction is one way through the router: its TUN device and its Link.
type direction struct {
	name        string
	tun         *os.File
	mu          sync.Mutex // guards link
	link        *Link
	wake        chan struct{} // a packet arrived: the writer may have an earlier deadline
	writeErrors atomic.Uint64
}

// impairer is the running daemon.
type impairer struct {
	seed uint64
	dirs []*direction
}

func runDaemon(args []string) error {
	fs := flag.NewFlagSet("netimpair", flag.ContinueOnError)
	tuns := map[string]*string{}
	for _, dir := range directions {
		tuns[dir] = fs.String("tun-"+dir, "", "the TUN device of direction "+dir+" (`NAME`)")
	}
	ctlPath := fs.String("ctl", "", "answer ctl commands on the unix socket `PATH`")
	seed := fs.Uint64("seed", 0, "`N`, the seed of the random choices (default: a random one, told in the ready line)")
	var settings impairSettings
	settings.register(fs)
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlags
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *ctlPath == "" {
		return usagef("--ctl is required")
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	if !seedSet {
		*seed = rand.Uint64()
	}

	im := &impairer{seed: *seed}
	for i, dir := range directions {
		if *tuns[dir] == "" {
			continue
		}
		tun, err := openTUN(*tuns[dir])
		if err != nil {
			return err
		}
		defer tun.Close()
		im.dirs = append(im.dirs, &direction{
			name: dir,
			tun:  tun,
			link: NewLink(settings.apply(dir, defaultParams), *seed+uint64(i)),
			wake: make(chan struct{}, 1),
		})
	}
	if len(im.dirs) == 0 {
		return usagef("no TUN device: give --tun-ab, --tun-ba or both")
	}

	ln, err := net.Listen("unix", *ctlPath)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer ln.Close() // removes the socket file
	if err := os.Chmod(*ctlPath, 0o600); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	failed := make(chan error, len(im.dirs))
	for _, d := range im.dirs {
		go d.readLoop(failed)
		go d.writeLoop()
	}
	go im.serve(ln)

	var devices []string
	for _, d := range im.dirs {
		devices = append(devices, d.name+" on "+strings.TrimPrefix(d.tun.Name(), "/dev/net/tun:"))
	}
	fmt.Printf("netimpair: ready, seed %d, %s, control socket %s\n", im.seed, strings.Join(devices, ", "), *ctlPath)

	select {
	case <-stop:
	case err = <-failed:
	}
	stats, _ := json.Marshal(im.stats())
	fmt.Printf("%s\n", stats)
	return err
}

// usage prints the synopsis and the flags, each impairment once: its
// ab- and ba- forms are only named.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `usage: netimpair --tun-ab NAME --tun-ba NAME --ctl SOCKET [--seed N] [IMPAIRMENT...]
       netimpair ctl SOCKET partition on|off [ab|ba]
       netimpair ctl SOCKET set IMPAIRMENT...
       netimpair ctl SOCKET stats

Each IMPAIRMENT flag applies both ways; --ab-NAME or --ba-NAME applies it one way.
`)
	plain := flag.NewFlagSet("", flag.ContinueOnError)
	plain.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "ab-") && !strings.HasPrefix(f.Name, "ba-") {
			plain.Var(f.Value, f.Name, f.Usage)
		}
	})
	plain.PrintDefaults()
}

// readLoop takes in every packet the kernel routes into the TUN device,
// until the device fails.
func (d *direction) readLoop(failed chan<- error) {
	buf := make([]byte, 1<<16)
	for {
		n, err := d.tun.Read(buf)
		if err != nil {
			failed <- fmt.Errorf("read from %s: %w", d.tun.Name(), err)
			return
		}
		pkt := bytes.Clone(buf[:n])
		d.mu.Lock()
		d.link.Arrive(time.Now(), pkt)
		d.mu.Unlock()
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// writeLoop writes each packet back to the TUN device when it is due. A
// packet the kernel refuses is counted and forgotten, as a real link would.
func (d *direction) writeLoop() {
	timer := time.NewTimer(time.Hour)
	for {
		d.mu.Lock()
		due := d.link.Due(time.Now())
		next, held := d.link.Next()
		d.mu.Unlock()
		for _, pkt := range due {
			if _, err := d.tun.Write(pkt); err != nil {
				d.writeErrors.Add(1)
			}
		}
		if held {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// directionStats is one direction's part of what stats prints.
type directionStats struct {
	Counters
	WriteErrors uint64 `json:"write_errors"`
	Held        int    `json:"held"`
	Partition   bool   `json:"partition"` // on: dropping everything
}

func (im *impairer) stats() map[string]any {
	out := map[string]any{"seed": im.seed}
	for _, d := range im.dirs {
		d.mu.Lock()
		out[d.name] = directionStats{
			Counters:    d.link.Counters(),
			WriteErrors: d.writeErrors.Load(),
			Held:        d.link.Held(),
			Partition:   d.link.Partitioned(),
		}
		d.mu.Unlock()
	}
	return out
}
