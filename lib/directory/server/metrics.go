package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// dirMetrics counts the requests a Handler answered, for Options.Metrics.
// No label names a record, a key or a client.
type dirMetrics struct {
	requests *prometheus.CounterVec // op, code
	refusals *prometheus.CounterVec // reason
}

func newDirMetrics(reg prometheus.Registerer) *dirMetrics {
	m := &dirMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smvs_dir_requests_total",
			Help: "Requests answered, by operation (publish, lookup_name, lookup_key, remove, reach, health, other) and HTTP status code.",
		}, []string{"op", "code"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smvs_dir_refusals_total",
			Help: "Requests refused or failed, by reason: rate_limited, bad_request (not the JSON asked for, or too large), " +
				"invalid (a record or tombstone that does not verify), stale, name_taken, busy, canceled, failed.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.refusals)
	}
	return m
}

// opOf names the operation r asks for, as the requests' op label.
func opOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v1/records" && r.Method == http.MethodPost:
		return "publish"
	case strings.HasPrefix(p, "/v1/records/name/"):
		return "lookup_name"
	case strings.HasPrefix(p, "/v1/records/key/"):
		return "lookup_key"
	case p == "/v1/remove":
		return "remove"
	case p == "/v1/reach":
		return "reach"
	case p == "/healthz":
		return "health"
	}
	return "other"
}

// answered counts a request for op answered with status.
func (m *dirMetrics) answered(op string, status int) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
}

// refused counts a request refused for reason.
func (m *dirMetrics) refused(reason string) {
	m.refusals.WithLabelValues(reason).Inc()
}
