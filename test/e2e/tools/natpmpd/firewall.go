package main

import "smvs/test/e2e/tools/internal/forward"

// iptables maps ports with iptables rules in natpmpd's network namespace
// (package forward), tagged "natpmpd".
type iptables struct{ forward.Iptables }

func (t *iptables) add(m *mapping) error    { return t.Add(m.external, m.client) }
func (t *iptables) remove(m *mapping) error { return t.Remove(m.external, m.client) }
