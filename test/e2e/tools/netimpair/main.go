// Command netimpair impairs IP packets in user space for the end-to-end
// tests' network lab (test/e2e/netlab.bash), on kernels without netem. The
// lab's router sends every packet that arrives from A into the TUN device
// of direction ab, and every packet from B into that of ba; netimpair reads
// each, delays, drops, reorders or duplicates it as told, and writes it back
// to the same device, whence the kernel forwards it on. It is a test tool,
// never installed.
//
//	netimpair --tun-ab NAME --tun-ba NAME --ctl SOCKET [--seed N] [IMPAIRMENT...]
//	netimpair ctl SOCKET partition on|off [ab|ba]
//	netimpair ctl SOCKET set IMPAIRMENT...
//	netimpair ctl SOCKET stats
//
// An IMPAIRMENT flag applies to both directions (--loss 5) or, with the
// direction's prefix, to one (--ab-loss 5, winning over --loss):
// --delay DURATION, --jitter DURATION, --loss PERCENT, --reorder PERCENT,
// --reorder-by DURATION (default 10ms), --duplicate PERCENT, --limit PACKETS
// (default 1000). Jitter moves the delay within --delay ± --jitter, from
// one random value to the next over four times the jitter, never so fast
// that a packet passes the one before it (netem's jitter reorders; here
// reordering is a setting of its own): a reordered packet is held
// --reorder-by longer than its delay, so the packets after it pass it.
// The counters count a packet held back as reordered, and a partition's
// drops apart from losses.
//
// The daemon prints one line when it is ready ("netimpair: ready, seed N,
// …"), and its counters as one line of JSON when SIGTERM or SIGINT ends
// it. It answers on the unix socket SOCKET (mode 0600): partition on drops
// every packet that arrives (in one direction, or both) until partition
// off; set changes the impairment of the packets that arrive from then on;
// stats prints the counters as JSON. Without --seed the seed is random;
// the ready line tells it, so that a failing run's choices can be made
// again (as far as the packets come in the same order).
//
// Exit status: 0 when stopped by a signal or when a ctl command succeeded,
// 1 on an error, 2 on a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "ctl" {
		err = runCtl(os.Args[2:])
	} else {
		err = runDaemon(os.Args[1:])
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errFlags): // the flag package said why
		os.Exit(2)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "netimpair: error: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "netimpair: error: %v\n", err)
		os.Exit(1)
	}
}

// errFlags is a command line the flag package refused, having said why.
var errFlags = errors.New("bad flags")

// usageError is a command line netimpair can't make sense of.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
