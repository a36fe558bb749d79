// Command promcheck reads a Prometheus text exposition on standard input,
// as a scrape of --metrics gets it, and checks it with the Prometheus
// client library's own parser: it exits 1, saying why, if it does not
// parse. For each SERIES argument, a metric's name with the labels to
// match (name, or name{label="value",...}), it prints the series' value,
// one a line; a series not there is an error. The tests use it to see
// counters move.
//
//	curl -s http://127.0.0.1:9447/metrics | promcheck 'smvs_host_messages_sent_total{status="sent"}'
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, series []string) error {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(in)
	if err != nil {
		return fmt.Errorf("not a valid exposition: %w", err)
	}
	if len(families) == 0 {
		return fmt.Errorf("no metrics")
	}
	if err := lint(families); err != nil {
		return err
	}
	for _, s := range series {
		v, err := value(families, s)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, strconv.FormatFloat(v, 'f', -1, 64))
	}
	return nil
}

// lint checks what the parser lets through and promtool check metrics
// does not: a metric with no HELP, and a series given twice.
func lint(families map[string]*dto.MetricFamily) error {
	for name, f := range families {
		if f.GetHelp() == "" {
			return fmt.Errorf("metric %s has no HELP", name)
		}
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			var key strings.Builder
			for _, l := range m.GetLabel() { // sorted by name
				fmt.Fprintf(&key, "%s=%q,", l.GetName(), l.GetValue())
			}
			if seen[key.String()] {
				return fmt.Errorf("series %s{%s} appears twice", name, strings.TrimSuffix(key.String(), ","))
			}
			seen[key.String()] = true
		}
	}
	return nil
}

// value returns the value of the one series s names: the sum of those
// that match it, if the labels it gives leave several.
func value(families map[string]*dto.MetricFamily, s string) (float64, error) {
	name, labels, err := parseSeries(s)
	if err != nil {
		return 0, err
	}
	f := families[name]
	if f == nil {
		return 0, fmt.Errorf("no metric %s", name)
	}
	var sum float64
	found := false
series:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if !hasLabel(m, k, v) {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		default:
			return 0, fmt.Errorf("%s is neither a counter nor a gauge", name)
		}
	}
	if !found {
		return 0, fmt.Errorf("no series %s", s)
	}
	return sum, nil
}

// parseSeries parses name{label="value",...}; a value may not hold a
// comma, which the tests' series never need.
func parseSeries(s string) (string, map[string]string, error) {
	name, rest, braces := strings.Cut(s, "{")
	labels := map[string]string{}
	if !braces {
		return name, labels, nil
	}
	body, ok := strings.CutSuffix(rest, "}")
	if !ok {
		return "", nil, fmt.Errorf("series %q: no closing brace", s)
	}
	for pair := range strings.SplitSeq(body, ",") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		uq, err := strconv.Unquote(v)
		if !ok || err != nil || strings.Contains(uq, ",") {
			return "", nil, fmt.Errorf("series %q: want label=\"value\", with no comma in the value", s)
		}
		labels[k] = uq
	}
	return name, labels, nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
