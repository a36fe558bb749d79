package server

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsCount checks that the requests and the refusals are counted
// by operation, status and reason, and that no label holds a name or key.
func TestMetricsCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, Options{Metrics: reg, Rate: 1, Burst: 6})
	alice := newUser(t, "alice")
	alice.seq = 4
	rec := alice.record(t, start) // seq 5
	alice.seq = 2
	stale := alice.record(t, start) // seq 3

	check(t, "publish", e.do("POST", "/v1/records", body("record", rec)), 200, "")
	check(t, "look-up", e.do("GET", "/v1/records/name/alice", ""), 200, "")
	check(t, "look-up by key", e.do("GET", "/v1/records/key/"+alice.key(), ""), 200, "")
	check(t, "unknown name", e.do("GET", "/v1/records/name/bob", ""), 404, "")
	check(t, "stale", e.do("POST", "/v1/records", body("record", stale)), 409, "")
	check(t, "not JSON", e.do("POST", "/v1/records", "x"), 400, "")
	check(t, "over the rate", e.do("GET", "/v1/records/name/alice", ""), 429, "")

	want := `
# HELP smvs_dir_refusals_total Requests refused or failed, by reason: rate_limited, bad_request (not the JSON asked for, or too large), invalid (a record or tombstone that does not verify), stale, name_taken, busy, canceled, failed.
# TYPE smvs_dir_refusals_total counter
smvs_dir_refusals_total{reason="bad_request"} 1
smvs_dir_refusals_total{reason="rate_limited"} 1
smvs_dir_refusals_total{reason="stale"} 1
# HELP smvs_dir_requests_total Requests answered, by operation (publish, lookup_name, lookup_key, remove, reach, health, other) and HTTP status code.
# TYPE smvs_dir_requests_total counter
smvs_dir_requests_total{code="200",op="lookup_key"} 1
smvs_dir_requests_total{code="200",op="lookup_name"} 1
smvs_dir_requests_total{code="200",op="publish"} 1
smvs_dir_requests_total{code="400",op="publish"} 1
smvs_dir_requests_total{code="404",op="lookup_name"} 1
smvs_dir_requests_total{code="409",op="publish"} 1
smvs_dir_requests_total{code="429",op="lookup_name"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
