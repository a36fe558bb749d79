package host

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// hostMetrics counts what the host does, for Config.Metrics. Every label
// takes a few fixed values: no peer's key, name or address is ever one.
type hostMetrics struct {
	submitted prometheus.Counter
	received  *prometheus.CounterVec // status
	ended     *prometheus.CounterVec // status
	failures  *prometheus.CounterVec // reason
	calls     prometheus.Counter
}

// The reasons an attempt to deliver a message failed
// (smvs_host_delivery_failures_total).
const (
	failUnresolved  = "unresolved"    // the peer's record was not found
	failUnreachable = "unreachable"   // its host did not answer
	failKeyMismatch = "key_mismatch"  // the host at its address presents another key
	failBadAnswer   = "bad_answer"    // its host answered garbage
	failExpired     = "expired"       // not delivered within the retry period: given up
	failTooLarge    = "too_large"     // over its host's size limit: given up
	failRefused     = "refused"       // its user's policy: given up
	failQuota       = "quota"         // its host's quota: given up
	failStaleKEM    = "stale_kem_key" // sealed to a KEM key it no longer has: re-sealed
	failBusy        = "busy"          // its host's limits: tried again later
	failInternal    = "internal"      // its host failed
	failRejected    = "rejected"      // any other refusal: given up
)

func newHostMetrics() *hostMetrics {
	return &hostMetrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smvs_host_messages_submitted_total",
			Help: "Messages this host's devices handed to it to send.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smvs_host_deliveries_received_total",
			Help: "Messages other hosts delivered to this one, by the status it answered (stored: a new message kept); " +
				"a request refused before it was read counts once.",
		}, []string{"status"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smvs_host_messages_sent_total",
			Help: "Messages that left the outbox, by how: sent (the peer's host stored it), refused or failed (given up).",
		}, []string{"status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smvs_host_delivery_failures_total",
			Help: "Attempts to deliver a message that failed, by reason.",
		}, []string{"reason"}),
		calls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smvs_host_calls_total",
			Help: "Calls placed by this host's devices or received from other hosts.",
		}),
	}
}

// registerMetrics puts h's metrics on reg: the counters, and gauges read
// when reg is scraped. unregister takes them off.
func (h *Host) registerMetrics(reg prometheus.Registerer) (unregister func(), err error) {
	m := h.metrics
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smvs_host_outbox_messages",
			Help: "Messages waiting in the outbox to be delivered.",
		}, func() float64 { n, _ := h.out.depth(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smvs_host_outbox_oldest_age_seconds",
			Help: "How long the oldest message in the outbox has waited; 0 when it is empty.",
		}, func() float64 {
			n, oldest := h.out.depth()
			if n == 0 {
				return 0
			}
			return max(time.Since(oldest).Seconds(), 0)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smvs_host_store_bytes",
			Help: "Bytes the message store takes: its database's pages in use, its key, and the bodies' files (what --quota bounds).",
		}, func() float64 { n, _ := h.store.Used(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smvs_host_devices_connected",
			Help: "Connections of devices (smvs-send, smvs-recv, …) open on the device socket.",
		}, func() float64 { return float64(h.devices.open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smvs_host_calls_active",
			Help: "Calls ringing or under way.",
		}, func() float64 { return float64(h.calls.active()) }),
	}
	var done []prometheus.Collector
	unregister = func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, c := range append(gauges, m.submitted, m.received, m.ended, m.failures, m.calls) {
		if err := reg.Register(c); err != nil {
			unregister()
			return nil, err
		}
		done = append(done, c)
	}
	return unregister, nil
}

// statusLabels are the values of the status label of
// smvs_host_deliveries_received_total.
var statusLabels = map[wire.HostStatus]string{
	wire.StatusStored: "stored", wire.StatusDuplicate: "duplicate", wire.StatusRefused: "refused",
	wire.StatusWrongHost: "wrong_host", wire.StatusInvalid: "invalid", wire.StatusStaleKEMKey: "stale_kem_key",
	wire.StatusTooLarge: "too_large", wire.StatusQuota: "quota", wire.StatusBusy: "busy", wire.StatusInternal: "internal",
}

// answered counts a delivery from another host answered with st.
func (m *hostMetrics) answered(st wire.HostStatus) {
	label, ok := statusLabels[st]
	if !ok {
		label = "other"
	}
	m.received.WithLabelValues(label).Inc()
}

// left counts a message that left the outbox with st.
func (m *hostMetrics) left(st delivery.Status) {
	m.ended.WithLabelValues(st.String()).Inc()
}

// failed counts n attempts that failed for reason.
func (m *hostMetrics) failed(reason string, n int) {
	m.failures.WithLabelValues(reason).Add(float64(n))
}
