package portmap

import "time"

// An epochRule is how a protocol tells from the epochs of two answers, and
// the time between them, that the gateway lost its mappings in between
// (rebooted, say): its epoch counts seconds from then.
type epochRule int

const (
	natpmpEpoch epochRule = iota // RFC 6886 §3.6
	pcpEpoch                     // RFC 6887 §8.5
)

// valid reports whether epoch cur, elapsed after an answer of epoch prev,
// is consistent with a gateway that kept its mappings.
func (r epochRule) valid(elapsed time.Duration, prev, cur uint32) bool {
	if r == natpmpEpoch {
		// Lost if cur is more than 2 s short of prev plus 7/8 of the
		// time elapsed here.
		return float64(cur) >= float64(prev)+elapsed.Seconds()*7/8-2
	}
	// Back by more than a second is invalid; otherwise each side's elapsed
	// time may be 2 s (for rounding) and a sixteenth (for a cheap clock's
	// drift) shorter than the other's.
	if int64(cur)+1 < int64(prev) {
		return false
	}
	client := int64(elapsed / time.Second)
	server := int64(cur) - int64(prev)
	return client+2 >= server-server/16 && server+2 >= client-client/16
}

// epochClock follows the epochs of a gateway's answers.
type epochClock struct {
	seen   bool
	server uint32    // the last answer's epoch
	client time.Time // when it came, with the monotonic clock's reading
}

// observe notes an answer of epoch epoch come at now, and reports whether
// the gateway lost its mappings since the answer before. The first answer
// is always consistent.
func (c *epochClock) observe(rule epochRule, epoch uint32, now time.Time) (lost bool) {
	if c.seen {
		lost = !rule.valid(now.Sub(c.client), c.server, epoch)
	}
	c.seen, c.server, c.client = true, epoch, now
	return lost
}
