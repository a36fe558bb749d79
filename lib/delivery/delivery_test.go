package delivery

import "testing"

func TestWarningNames(t *testing.T) {
	for w, want := range map[Warning]string{WarnGap: "gap", WarnFork: "fork", WarnChanged: "changed", WarnRotated: "rotated", 0: "warning(0)", 9: "warning(9)"} {
		if got := w.String(); got != want {
			t.Errorf("Warning(%d).String() = %q, want %q", uint64(w), got, want)
		}
		if known := want != "warning(0)" && want != "warning(9)"; w.Known() != known {
			t.Errorf("Warning(%d).Known() = %v, want %v", uint64(w), w.Known(), known)
		}
	}
}

func TestStatusNames(t *testing.T) {
	for s, want := range map[Status]string{Queued: "queued", Sent: "sent", Delivered: "delivered", Failed: "failed", Received: "received", Refused: "refused", 0: "unknown", 7: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", uint64(s), got, want)
		}
	}
	for s, final := range map[Status]bool{Queued: false, Sent: false, Delivered: true, Failed: true, Received: true, Refused: true} {
		if s.Final() != final {
			t.Errorf("%v.Final() = %v, want %v", s, s.Final(), final)
		}
	}
}
