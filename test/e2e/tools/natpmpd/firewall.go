package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
)

// iptables maps ports with iptables rules in natpmpd's network namespace.
type iptables struct {
	wan    string     // the interface packets for public arrive on
	public netip.Addr // the external address
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
func (t *iptables) rules(m *mapping) []rule {
	ext := strconv.Itoa(int(m.external))
	internal := strconv.Itoa(int(m.client.Port()))
	comment := []string{"-m", "comment", "--comment", "natpmpd " + ext}
	return []rule{
		{table: "nat", chain: "PREROUTING", spec: append([]string{
			"-i", t.wan, "-d", t.public.String(), "-p", "udp", "--dport", ext,
			"-j", "DNAT", "--to-destination", m.client.String()}, comment...)},
		{table: "filter", chain: "FORWARD", first: true, spec: append([]string{
			"-i", t.wan, "-d", m.client.Addr().String(), "-p", "udp", "--dport", internal,
			"-m", "conntrack", "--ctstate", "DNAT", "--ctorigdst", t.public.String(), "--ctorigdstport", ext,
			"-j", "ACCEPT"}, comment...)},
	}
}

func (t *iptables) add(m *mapping) error {
	rules := t.rules(m)
	for i, r := range rules {
		op := []string{"-A", r.chain}
		if r.first {
			op = []string{"-I", r.chain, "1"}
		}
		if err := runIptables(r.table, op, r.spec); err != nil {
			for _, r := range rules[:i] {
				runIptables(r.table, []string{"-D", r.chain}, r.spec)
			}
			return err
		}
	}
	return nil
}

func (t *iptables) remove(m *mapping) error {
	var errs []error
	for _, r := range t.rules(m) {
		errs = append(errs, runIptables(r.table, []string{"-D", r.chain}, r.spec))
	}
	return errors.Join(errs...)
}

func runIptables(table string, op, spec []string) error {
	args := append(append([]string{"-w", "5", "-t", table}, op...), spec...)
	out, err := exec.Command("iptables", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %v: %w: %s", args, err, bytes.TrimSpace(out))
	}
	return nil
}
