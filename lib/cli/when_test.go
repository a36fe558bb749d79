package cli

import (
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.FixedZone("UTC+1", 3600)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-03-01T10:00:00Z":      t0,
		"2025-03-01T10:00:00+02:00": t0.Add(-2 * time.Hour),
		"2025-03-01 11:00:00":       t0,
		"2025-03-01T11:00:00":       t0,
		"2025-03-01 11:00":          t0,
		"2025-03-01":                t0.Add(-11 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"2d":                        now.Add(-48 * time.Hour),
	} {
		if got, err := ParseWhen(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-5m", "0d", "42", "2026-13-01"} {
		if got, err := ParseWhen(in, now); err == nil {
			t.Errorf("ParseWhen(%q) accepted: %v", in, got)
		}
	}
}
