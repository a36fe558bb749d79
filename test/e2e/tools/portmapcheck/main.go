// Command portmapcheck maps a UDP port with lib/portmap and keeps the
// mapping until told to stop, for the end-to-end tests' network lab
// (test/e2e/portmap.bats). It is a test tool, never installed.
//
//	portmapcheck --port PORT [--gateway ADDR] [--lifetime DURATION] [--allow-private]
//
// Without --gateway it asks the default route's gateway. It prints
// "portmapcheck: public ADDR:PORT by PROTOCOL" once the mapping is made,
// then a line for each change of the public address ("portmapcheck:
// public ADDR:PORT", or "portmapcheck: public none" while the mapping
// can't be counted on). SIGTERM or SIGINT deletes the mapping, prints
// "portmapcheck: deleted" and ends it. lib/portmap's log goes to stderr.
//
// Exit status: 0 when stopped by a signal and the mapping deleted; 1 on
// an error, the mapping not made or not deleted; 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"smvs/lib/portmap"
)

func main() {
	err := run(os.Args[1:])
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "portmapcheck: error: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "portmapcheck: error: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func run(args []string) error {
	fs := flag.NewFlagSet("portmapcheck", flag.ContinueOnError)
	port := fs.Uint("port", 0, "the local UDP `PORT` to map")
	gateway := fs.String("gateway", "", "the gateway's `ADDRESS` (default: the default route's)")
	lifetime := fs.Duration("lifetime", 0, "the lifetime to ask for (default: lib/portmap's)")
	allowPrivate := fs.Bool("allow-private", false, "take a private external address as public")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *port == 0 || *port > 65535 {
		return usageError{errors.New("--port must be from 1 to 65535")}
	}
	opts := portmap.Options{
		Port:         uint16(*port),
		Lifetime:     *lifetime,
		AllowPrivate: *allowPrivate,
		Log:          slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnChange: func(public netip.AddrPort) {
			if public.IsValid() {
				fmt.Printf("portmapcheck: public %s\n", public)
			} else {
				fmt.Println("portmapcheck: public none")
			}
		},
	}
	if *gateway != "" {
		gw, err := netip.ParseAddr(*gateway)
		if err != nil {
			return usageError{fmt.Errorf("--gateway: %w", err)}
		}
		opts.Gateway = gw
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	m, err := portmap.Map(ctx, opts)
	cancel()
	if err != nil {
		return err
	}
	fmt.Printf("portmapcheck: public %s by %s\n", m.Public(), m.Protocol())
	<-stop
	if err := m.Close(); err != nil {
		return err
	}
	fmt.Println("portmapcheck: deleted")
	return nil
}
