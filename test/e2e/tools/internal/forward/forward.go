// Package forward makes the port mappings of the end-to-end tests' fake
// gateways (natpmpd, upnpd) real, with iptables rules in the lab's router
// R (test/e2e/netlab.bash), as a home router does. It is test code, never
// installed.
//
// A mapping of external port E to a client's address C and port P is two
// rules in the gateway's network namespace:
//
//	iptables -t nat -A PREROUTING -i WAN -d PUBLIC -p udp --dport E -j DNAT --to-destination C:P
//	iptables -I FORWARD -i WAN -d C -p udp --dport P -m conntrack --ctstate DNAT --ctorigdst PUBLIC --ctorigdstport E -j ACCEPT
//
// The DNAT sits where netlab's conntrack first meets a packet from the
// public side: on its way in from WAN, before netimpair. The ACCEPT goes
// ahead of netlab_nat's DROP, which lets in only replies. Both carry the
// comment "TAG E", so that a test can list them (iptables-save | grep TAG).
// Removing a mapping removes both; flows already under way go on until
// conntrack forgets them, as on a router.
package forward

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
)

// Iptables maps ports with iptables rules in this process's network
// namespace.
type Iptables struct {
	WAN    string     // the interface packets for Public arrive on
	Public netip.Addr // the external address
	Tag    string     // the rules' comment, with the external port
}

// rule is an iptables rule: its table, chain and match and target.
type rule struct {
	table, chain string
	first        bool // insert at the head of the chain rather than append
	spec         []string
}

// rules are a mapping's: the DNAT where conntrack first meets a packet from
// the public side, and the ACCEPT of the flows it made ahead of netlab's
// DROP of everything but replies.
func (t *Iptables) rules(external uint16, client netip.AddrPort) []rule {
	ext := strconv.Itoa(int(external))
	internal := strconv.Itoa(int(client.Port()))
	comment := []string{"-m", "comment", "--comment", t.Tag + " " + ext}
	return []rule{
		{table: "nat", chain: "PREROUTING", spec: append([]string{
			"-i", t.WAN, "-d", t.Public.String(), "-p", "udp", "--dport", ext,
			"-j", "DNAT", "--to-destination", client.String()}, comment...)},
		{table: "filter", chain: "FORWARD", first: true, spec: append([]string{
			"-i", t.WAN, "-d", client.Addr().String(), "-p", "udp", "--dport", internal,
			"-m", "conntrack", "--ctstate", "DNAT", "--ctorigdst", t.Public.String(), "--ctorigdstport", ext,
			"-j", "ACCEPT"}, comment...)},
	}
}

// Add makes the mapping of external to client: both rules, or neither.
func (t *Iptables) Add(external uint16, client netip.AddrPort) error {
	rules := t.rules(external, client)
	for i, r := range rules {
		op := []string{"-A", r.chain}
		if r.first {
			op = []string{"-I", r.chain, "1"}
		}
		if err := run(r.table, op, r.spec); err != nil {
			for _, r := range rules[:i] {
				run(r.table, []string{"-D", r.chain}, r.spec)
			}
			return err
		}
	}
	return nil
}

// Remove deletes the rules of the mapping of external to client.
func (t *Iptables) Remove(external uint16, client netip.AddrPort) error {
	var errs []error
	for _, r := range t.rules(external, client) {
		errs = append(errs, run(r.table, []string{"-D", r.chain}, r.spec))
	}
	return errors.Join(errs...)
}

func run(table string, op, spec []string) error {
	args := append(append([]string{"-w", "5", "-t", table}, op...), spec...)
	out, err := exec.Command("iptables", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %v: %w: %s", args, err, bytes.TrimSpace(out))
	}
	return nil
}
