package main

import (
	"bytes"
	"maps"
	"strconv"
	"strings"
	"testing"
)

const exposition = `# HELP smvs_x_total A counter.
# TYPE smvs_x_total counter
smvs_x_total{status="sent"} 3
smvs_x_total{status="failed"} 1
# HELP smvs_y A gauge.
# TYPE smvs_y gauge
smvs_y 2.5
`

func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(strings.NewReader(exposition), &out, []string{`smvs_x_total{status="sent"}`, "smvs_x_total", "smvs_y"})
	if err != nil || out.String() != "3\n4\n2.5\n" {
		t.Fatalf("run: %q, %v", out.String(), err)
	}
	for _, tt := range []struct{ in, series string }{
		{"smvs_x_total{status=\"sent\" 3\n", ""}, // not valid
		{"", ""},                                 // nothing
		{exposition, `smvs_x_total{status="refused"}`}, // no such series
		{exposition, "smvs_z"},                         // no such metric
		{exposition, `smvs_x_total{status=sent}`},      // unquoted
		{"# TYPE a counter\na 1\na 2\n", ""},           // a series twice
	} {
		var series []string
		if tt.series != "" {
			series = []string{tt.series}
		}
		if err := run(strings.NewReader(tt.in), &bytes.Buffer{}, series); err == nil {
			t.Errorf("run(%q, %q) did not fail", tt.in, tt.series)
		}
	}
}

// FuzzParseSeries checks that a series argument parses to a name and
// labels that, written back, parse the same, or is refused.
func FuzzParseSeries(f *testing.F) {
	for _, s := range []string{"a", `a{b="c"}`, `a{b="c",d="e"}`, `a{b=c}`, `a{`, `{}`, `a{b="\""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, labels, err := parseSeries(s)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString(name + "{")
		for k, v := range labels {
			b.WriteString(k + "=" + strconv.Quote(v) + ",")
		}
		b.WriteString("}")
		name2, labels2, err := parseSeries(b.String())
		if err != nil || name2 != name || !maps.Equal(labels, labels2) {
			t.Fatalf("%q parsed to %q %v, written back as %q: %q %v %v", s, name, labels, b.String(), name2, labels2, err)
		}
	})
}
