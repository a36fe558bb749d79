package cli

import (
	"fmt"
	"time"
)

// TimeLayout is how commands show a local time, and one ParseWhen reads
// back.
const TimeLayout = "2006-01-02 15:04:05"

// ParseWhen parses a point in time as a person gives it (smvs-recv
// --since, smvs-rm --before): a time in RFC 3339; a local time as
// TimeLayout shows it, with a T for the space, without the seconds, or a
// date alone for its midnight; or a duration before now, such as 90m or
// 2d (see ParseDuration).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{TimeLayout, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a time nor a duration", s)
	}
	return now.Add(-d), nil
}
