package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "smvs-send", "sent", true, 4<<20)
	p.Add(512 << 10)
	if buf.Len() != 0 {
		t.Errorf("progress under 1 MiB: %q", buf.String())
	}
	p.start = time.Now().Add(-time.Second)
	p.Add(2 << 20)
	p.Draw("waiting for the host")
	p.Clear()
	out := buf.String()
	for _, want := range []string{"\rsmvs-send: [", "62% 2.5 MiB of 4.0 MiB, 2.", "MiB/s", "\rsmvs-send: waiting for the host", "\r\x1b[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q: %q", want, out)
		}
	}

	buf.Reset()
	p = NewProgress(&buf, "smvs-recv", "received", true, -1)
	p.Set(3 << 20)
	if !strings.Contains(buf.String(), "smvs-recv: received 3.0 MiB") {
		t.Errorf("progress of unknown total: %q", buf.String())
	}

	buf.Reset()
	p = NewProgress(&buf, "smvs-send", "sent", false, 4<<20)
	p.Set(4 << 20)
	p.Draw("waiting")
	p.Clear()
	if buf.Len() != 0 {
		t.Errorf("progress on no terminal: %q", buf.String())
	}
}
