package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"smvs/lib/cli"
)

// progressMin is the size from which reading a body shows progress.
const progressMin = 1 << 20

// progress draws a progress bar for a large body on one line of standard
// error, redrawn in place, when standard error is a terminal; otherwise it
// does nothing.
type progress struct {
	w      io.Writer
	on     bool
	total  int64 // -1 when unknown
	done   int64
	drawn  bool
	lastAt time.Time
}

func newProgress(w io.Writer, terminal bool, total int64) *progress {
	return &progress{w: w, on: terminal, total: total}
}

// add counts n more bytes read.
func (p *progress) add(n int) {
	p.done += int64(n)
	if !p.on || p.done < progressMin || time.Since(p.lastAt) < 100*time.Millisecond {
		return
	}
	p.lastAt = time.Now()
	if p.total > 0 {
		const width = 30
		filled := int(min(p.done, p.total) * width / p.total)
		p.draw(fmt.Sprintf("[%s%s] %3d%% %s of %s", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
			min(p.done, p.total)*100/p.total, cli.FormatSize(p.done), cli.FormatSize(p.total)))
		return
	}
	p.draw("read " + cli.FormatSize(p.done))
}

// sending says that n bytes are on their way to the host.
func (p *progress) sending(n int) {
	if p.drawn {
		p.draw("handing " + cli.FormatSize(int64(n)) + " to the host")
	}
}

func (p *progress) draw(s string) {
	fmt.Fprintf(p.w, "\rsmvs-send: %s\x1b[K", s)
	p.drawn = true
}

// clear erases the bar, if it was drawn.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
