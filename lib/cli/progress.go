package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressMin is the size from which a transfer shows its progress.
const ProgressMin = 1 << 20

// Progress draws the progress of a transfer on one line of standard error,
// redrawn in place at most ten times a second: a bar when the total is
// known, and the rate. It draws nothing when off (standard error is no
// terminal) or before ProgressMin bytes. It is not safe for concurrent use.
type Progress struct {
	w      io.Writer
	name   string // the command's, which starts the line
	verb   string // what is done to the bytes: "sent", "received"
	on     bool
	total  int64 // -1 when unknown
	done   int64
	start  time.Time
	lastAt time.Time
	drawn  bool
}

// NewProgress returns the progress of a transfer of total bytes (-1 when
// unknown) by the command name, drawn on w if on.
func NewProgress(w io.Writer, name, verb string, on bool, total int64) *Progress {
	return &Progress{w: w, name: name, verb: verb, on: on, total: total, start: time.Now()}
}

// Add counts n more bytes.
func (p *Progress) Add(n int) { p.Set(p.done + int64(n)) }

// Set says done bytes are through.
func (p *Progress) Set(done int64) {
	p.done = done
	if !p.on || p.done < ProgressMin || time.Since(p.lastAt) < 100*time.Millisecond {
		return
	}
	p.lastAt = time.Now()
	rate := ""
	if secs := time.Since(p.start).Seconds(); secs > 0.2 {
		rate = ", " + FormatSize(int64(float64(p.done)/secs)) + "/s"
	}
	if p.total > 0 {
		const width = 30
		filled := int(min(p.done, p.total) * width / p.total)
		p.Draw(fmt.Sprintf("[%s%s] %3d%% %s of %s%s", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
			min(p.done, p.total)*100/p.total, FormatSize(p.done), FormatSize(p.total), rate))
		return
	}
	p.Draw(p.verb + " " + FormatSize(p.done) + rate)
}

// Draw replaces the line with s, if the progress was drawn already or
// is on and past ProgressMin.
func (p *Progress) Draw(s string) {
	if !p.drawn && (!p.on || p.done < ProgressMin) {
		return
	}
	fmt.Fprintf(p.w, "\r%s: %s\x1b[K", p.name, s)
	p.drawn = true
}

// Clear erases the line, if it was drawn.
func (p *Progress) Clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
