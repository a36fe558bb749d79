// Command dhtnodes runs a private mainline DHT for the tests: N serving
// nodes on 127.0.0.1 (dht.StartLocal), each with a send limiter of its
// own. Once every node knows the others it prints their addresses on one
// line, separated by spaces, then runs until SIGTERM or SIGINT. It never
// reaches the public DHT.
//
//	dhtnodes [-n 8]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"smvs/lib/dht"
)

func main() {
	n := flag.Int("n", 8, "how many nodes")
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "dhtnodes: -n must be at least 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	nodes, err := dht.StartLocal(ctx, *n)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhtnodes:", err)
		os.Exit(1)
	}
	var addrs []string
	for _, node := range nodes {
		defer node.Close()
		addrs = append(addrs, node.Addr().String())
	}
	fmt.Println(strings.Join(addrs, " "))
	stop, done := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer done()
	<-stop.Done()
}
