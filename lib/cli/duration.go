package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a positive duration: one time.ParseDuration
// accepts, such as 36h or 200ms, or a whole number of days, such as 90d.
func ParseDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n uint64
		if n, err = strconv.ParseUint(days, 10, 16); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}
