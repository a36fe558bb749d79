// Command dhtnodes runs a private mainline DHT for the tests: N serving
// nodes on 127.0.0.1 (lib/dht), the first bootstrapped to nobody, the
// others to the first, each with a send limiter of its own. Once every
// node has joined it prints their addresses on one line, separated by
// spaces, then runs until SIGTERM or SIGINT. It never reaches the public
// DHT.
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
	var nodes []*dht.Node
	var addrs []string
	for i := range *n {
		boot := addrs[:min(len(addrs), 1)]
		if i == 0 {
			boot = []string{"127.0.0.1:1"} // nobody: the others join this one
		}
		node, err := dht.Start(dht.Config{Listen: "127.0.0.1:0", Serve: true, Bootstrap: boot})
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhtnodes:", err)
			os.Exit(1)
		}
		defer node.Close()
		nodes = append(nodes, node)
		addrs = append(addrs, node.Addr().String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	for _, node := range nodes {
		if err := node.Join(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "dhtnodes: joining:", err)
			os.Exit(1)
		}
	}
	cancel()
	fmt.Println(strings.Join(addrs, " "))
	stop, done := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer done()
	<-stop.Done()
}
