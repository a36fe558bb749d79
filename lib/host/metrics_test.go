package host

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"smvs/lib/delivery"
	"smvs/lib/transport"
)

// metricValue returns the value of the series name{labels} that reg
// gathers, and whether there is one.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestMetricsMove checks that the host's metrics follow what it does:
// messages submitted, queued while the peer's host is down (the outbox's
// depth and age), then delivered and stored; a message refused, a
// delivery that does not open.
func TestMetricsMove(t *testing.T) {
	dir := newDirectory(t, nil)
	alice, bob := newUser(t, "alice", dir), newUser(t, "bob", dir)
	aliceReg, bobReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	alice.cfg.Metrics, bob.cfg.Metrics = aliceReg, bobReg
	alice.start()
	bob.start()
	bob.stop()
	value := func(reg *prometheus.Registry, name string, labels ...string) float64 {
		v, _ := metricValue(t, reg, name, labels...)
		return v
	}

	d := alice.device()
	var ids [][]byte
	for _, body := range []string{"one", "two", "three"} {
		ids = append(ids, d.send("bob", body).ID)
	}
	if v := value(aliceReg, "smvs_host_messages_submitted_total"); v != 3 {
		t.Errorf("submitted %v, want 3", v)
	}
	if v := value(aliceReg, "smvs_host_outbox_messages"); v != 3 {
		t.Errorf("outbox %v, want 3", v)
	}
	time.Sleep(20 * time.Millisecond)
	if v := value(aliceReg, "smvs_host_outbox_oldest_age_seconds"); v < 0.02 || v > 60 {
		t.Errorf("oldest age %v s, want from 0.02 s to a minute", v)
	}
	if v := value(aliceReg, "smvs_host_devices_connected"); v < 1 {
		t.Errorf("devices connected %v with one connected", v)
	}
	if v := value(aliceReg, "smvs_host_store_bytes"); v <= 0 {
		t.Errorf("store bytes %v", v)
	}

	// bob's host registers again on the same registry once restarted.
	bob.start()
	for _, id := range ids {
		if s := d.status(id, waitFor); s != delivery.Delivered {
			t.Fatalf("status %v, want delivered", s)
		}
	}
	if v := value(aliceReg, "smvs_host_messages_sent_total", "status", "sent"); v != 3 {
		t.Errorf("sent %v, want 3", v)
	}
	eventually(t, "alice's outbox empty", func() bool {
		return value(aliceReg, "smvs_host_outbox_messages") == 0 && value(aliceReg, "smvs_host_outbox_oldest_age_seconds") == 0
	})
	// The three messages, stored; and alice's host stored bob's receipts.
	if v := value(bobReg, "smvs_host_deliveries_received_total", "status", "stored"); v != 3 {
		t.Errorf("bob's host stored %v deliveries, want 3", v)
	}
	eventually(t, "alice's host counted bob's receipts", func() bool {
		return value(aliceReg, "smvs_host_deliveries_received_total", "status", "stored") >= 1
	})

	// bob blocks alice: her next message is refused, and given up.
	bob.writeFile(BlockedFile, alice.key().String()+" alice\n")
	if s := d.status(d.send("bob", "blocked").ID, waitFor); s != delivery.Refused {
		t.Fatalf("status %v, want refused", s)
	}
	if v := value(aliceReg, "smvs_host_delivery_failures_total", "reason", failRefused); v != 1 {
		t.Errorf("failures for a refusal %v, want 1", v)
	}
	if v := value(aliceReg, "smvs_host_messages_sent_total", "status", "refused"); v != 1 {
		t.Errorf("refused %v, want 1", v)
	}
	// A stranger's tampered envelope.
	carol := newPeer(t)
	env := carol.seal(bob, "tampered", time.Now())
	env[len(env)-1] ^= 1
	carol.deliver(carol.conn(bob, transport.Config{}), env)
	if v := value(bobReg, "smvs_host_deliveries_received_total", "status", "invalid"); v != 1 {
		t.Errorf("bob's host counted %v invalid deliveries, want 1", v)
	}

	// A stopped host leaves nothing on the registry.
	bob.stop()
	if _, ok := metricValue(t, bobReg, "smvs_host_outbox_messages"); ok {
		t.Error("a stopped host's metrics are still registered")
	}
}
