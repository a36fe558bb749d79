// Command doctest runs the console examples of a document as written, the
// way a person would type them, and checks that each shows what the
// document says it shows. It keeps the README and the man pages from
// drifting from the commands.
//
//	doctest [flags] FILE   FILE is Markdown (```console blocks) or a man page (.EX blocks of EXAMPLES)
//
// Each "name$ " prompt is a terminal of its own (an interactive bash on a
// pseudo-terminal); a bare "$ " is the terminal "you". A terminal given
// -rc reads that file first: the home of another machine. A command goes
// on over lines as in bash (after \, |, && or ||). The lines after a
// command are what it must show, in order, with others allowed between
// them; "…" matches anything, and any date or time matches any other.
// Values a document can only show as examples are placeholders, bound to
// what the commands really print the first time they appear in output:
// words like "smvs1crrx…" (see -prefix) and the tokens given with -bind.
// A block of output lines with no command is what the terminal still
// running a command (smvs-recv --follow) shows meanwhile. A job started
// with & gets -settle to start before the next command, as a person reads
// on before typing.
//
// A command must exit 0 unless the document shows how it failed: an
// "error:" line, or the last line the command printed. A
// command matching -long (smvs-recv --follow) is left running; the next
// command typed in its terminal first presses Ctrl-C. -subst replaces
// text that can't run on a test machine (a camera, a public host name)
// with what can, the same way in every command.
//
// Exit status: 0 if every step passed, 1 if one failed, 2 on a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type config struct {
	file     string
	dir      string
	substs   [][2]string
	long     *regexp.Regexp
	answers  []answer
	places   *Placeholders
	timeout  time.Duration
	settle   time.Duration
	sections *regexp.Regexp
	skip     *regexp.Regexp
	rcs      map[string]string // terminal name -> the file its bash reads first
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctest:", err)
		os.Exit(2)
	}
	restoreTerminalSignals()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "doctest:", err)
		os.Exit(1)
	}
}

// restoreTerminalSignals makes Ctrl-C in the terminals work as in a
// person's. doctest may have been started with SIGINT, SIGHUP or SIGQUIT
// ignored (under nohup, or as a background job of a script), and an
// ignored signal stays ignored across exec: each terminal's bash would
// pass it on to every command, and Ctrl-C would stop nothing. A signal the
// Go runtime catches is reset to its default in a child, so catching them
// here gives the terminals their defaults. doctest itself goes on ignoring
// those it was started ignoring, and ends on the others.
func restoreTerminalSignals() {
	all := []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT}
	ignored := make(map[os.Signal]bool)
	for _, s := range all {
		ignored[s] = signal.Ignored(s)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, all...)
	go func() {
		for s := range sigs {
			if !ignored[s] {
				fmt.Fprintln(os.Stderr, "doctest:", s)
				os.Exit(1)
			}
		}
	}()
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("doctest", flag.ContinueOnError)
	var substs, answers, prefixes, binds, rcs listFlag
	dir := fs.String("dir", ".", "the terminals' working `directory`")
	long := fs.String("long", `--follow|tail -f|--answer`, "commands that don't end by themselves (`regexp`)")
	sections := fs.String("sections", "", "only the blocks under headings (in a man page: after paragraphs) matching this `regexp`")
	skip := fs.String("skip", "", "don't run commands matching this `regexp` (what can't run on one machine); each is listed")
	timeout := fs.Duration("timeout", time.Minute, "the longest a command or an expected line may take")
	settle := fs.Duration("settle", 2*time.Second, "how long a long-running command gets before the next step")
	fs.Var(&substs, "subst", "`FROM=TO`: run TO wherever the document says FROM (repeatable)")
	fs.Var(&answers, "answer", "`QUESTION=TEXT`: type TEXT when QUESTION appears (repeatable)")
	fs.Var(&prefixes, "prefix", "a `PREFIX` of placeholders written PREFIX…, as smvs1crrx… (repeatable)")
	fs.Var(&binds, "bind", "a `TOKEN` that is a placeholder as it stands, as a pairing code (repeatable)")
	fs.Var(&rcs, "rc", "`NAME=FILE`: terminal NAME (you for \"$ \") reads FILE first, as a machine of its own (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, errors.New("usage: doctest [flags] FILE")
	}
	cfg := &config{file: fs.Arg(0), dir: *dir, timeout: *timeout, settle: *settle,
		places: NewPlaceholders(prefixes, binds), rcs: make(map[string]string)}
	var err error
	if cfg.long, err = regexp.Compile(*long); err != nil {
		return nil, fmt.Errorf("-long: %w", err)
	}
	if cfg.sections, err = regexp.Compile(*sections); err != nil {
		return nil, fmt.Errorf("-sections: %w", err)
	}
	if *skip != "" {
		if cfg.skip, err = regexp.Compile(*skip); err != nil {
			return nil, fmt.Errorf("-skip: %w", err)
		}
	}
	for _, s := range substs {
		from, to, ok := strings.Cut(s, "=")
		if !ok || from == "" {
			return nil, fmt.Errorf("-subst %q: want FROM=TO", s)
		}
		cfg.substs = append(cfg.substs, [2]string{from, to})
	}
	for _, rc := range rcs {
		name, file, ok := strings.Cut(rc, "=")
		if !ok || name == "" || file == "" {
			return nil, fmt.Errorf("-rc %q: want NAME=FILE", rc)
		}
		cfg.rcs[name] = file
	}
	for _, a := range answers {
		q, text, ok := strings.Cut(a, "=")
		if !ok || q == "" {
			return nil, fmt.Errorf("-answer %q: want QUESTION=TEXT", a)
		}
		cfg.answers = append(cfg.answers, answer{q, text})
	}
	return cfg, nil
}

func run(cfg *config) error {
	doc, err := os.ReadFile(cfg.file)
	if err != nil {
		return err
	}
	var steps []Step
	if strings.HasSuffix(cfg.file, ".md") {
		steps, err = ParseMarkdown(string(doc))
	} else {
		steps, err = ParseMan(string(doc))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.file, err)
	}
	r := &runner{cfg: cfg, terms: make(map[string]*terminal)}
	defer r.closeAll()
	ran := 0
	for _, s := range steps {
		if !cfg.sections.MatchString(s.Section) {
			continue
		}
		if cfg.skip != nil && s.Cmd != "" && cfg.skip.MatchString(s.Cmd) {
			fmt.Printf("skip %s:%d %s$ %s (it can't run on one machine)\n", cfg.file, s.Line, s.Terminal, firstLine(s.Cmd))
			continue
		}
		ran++
		if err := r.step(s); err != nil {
			r.report(s, err)
			return fmt.Errorf("%s:%d: %w", cfg.file, s.Line, err)
		}
		fmt.Printf("ok %s:%d %s$ %s\n", cfg.file, s.Line, s.Terminal, firstLine(s.Cmd))
	}
	if err := r.finish(); err != nil {
		return err
	}
	if ran == 0 {
		return fmt.Errorf("%s: no example to run", cfg.file)
	}
	fmt.Printf("%d steps of %s passed\n", ran, cfg.file)
	return nil
}

// runner holds the terminals of one document's run.
type runner struct {
	cfg   *config
	terms map[string]*terminal
	order []*terminal
}

func (r *runner) terminal(name string) (*terminal, error) {
	if name == "" {
		name = "you"
	}
	if t, ok := r.terms[name]; ok {
		return t, nil
	}
	t, err := openTerminal(name, r.cfg.dir, r.cfg.rcs[name], r.cfg.answers)
	if err != nil {
		return nil, err
	}
	r.terms[name] = t
	r.order = append(r.order, t)
	return t, nil
}

func (r *runner) step(s Step) error {
	if s.Cmd == "" {
		return r.meanwhile(s)
	}
	t, err := r.terminal(s.Terminal)
	if err != nil {
		return err
	}
	if err := r.stopRunning(t); err != nil {
		return err
	}
	cmd := s.Cmd
	for _, sub := range r.cfg.substs {
		cmd = strings.ReplaceAll(cmd, sub[0], sub[1])
	}
	if cmd, err = r.cfg.places.Fill(cmd); err != nil {
		return err
	}
	prompts, start := t.mark()
	if err := t.typeLine(cmd); err != nil {
		return err
	}
	if r.cfg.long.MatchString(s.Cmd) {
		t.running = &running{step: s, start: start, prompts: prompts}
		time.Sleep(r.cfg.settle)
		return nil
	}
	status, err := t.waitMarker(prompts, r.cfg.timeout)
	if err != nil {
		return err
	}
	if err := r.expect(t, s.Expect, start, r.cfg.timeout); err != nil {
		return err
	}
	if err := r.checkStatus(t, s, start, status); err != nil {
		return err
	}
	if background(s.Cmd) {
		// A person reads on before typing the next command: a job
		// started with & gets as long to start as a long command.
		time.Sleep(r.cfg.settle)
	}
	return nil
}

// background reports whether a command ends by starting a job, as
// "smvs-dird … > dird.out &".
func background(cmd string) bool {
	cmd = strings.TrimSpace(cmd)
	return strings.HasSuffix(cmd, "&") && !strings.HasSuffix(cmd, "&&")
}

// checkStatus accepts a command's exit status: 0, or another when the
// document shows how the command failed (an "error:" line, or the last
// line it printed, as "smvs-call: alice hung up").
func (r *runner) checkStatus(t *terminal, s Step, start, status int) error {
	if status == 0 || showsError(s.Expect) {
		return nil
	}
	var last []string
	for _, l := range t.lines(start) {
		if strings.TrimSpace(l) != "" {
			last = []string{l}
		}
	}
	if n := len(s.Expect); n > 0 && r.cfg.places.Match(r.substituted(s.Expect[n-1:]), last) < 0 {
		return nil
	}
	return fmt.Errorf("exit status %d, and the document doesn't show how it failed (its last line: %q)", status, last)
}

// meanwhile checks output shown with no command: what one of the
// terminals still running a command shows.
func (r *runner) meanwhile(s Step) error {
	want := r.substituted(s.Expect)
	deadline := time.Now().Add(r.cfg.timeout)
	for {
		bad := 0
		for _, t := range r.order {
			if t.running == nil {
				continue
			}
			if bad = r.cfg.places.Match(want, t.lines(t.running.start)); bad < 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no terminal running a command showed %q", want[bad])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopRunning checks the output of the command left running in t, if any,
// then presses Ctrl-C.
func (r *runner) stopRunning(t *terminal) error {
	if t.running == nil {
		return nil
	}
	run := t.running
	if err := r.expect(t, run.step.Expect, run.start, r.cfg.timeout); err != nil {
		return fmt.Errorf("%s:%d (%s$ %s): %w", r.cfg.file, run.step.Line, t.name, firstLine(run.step.Cmd), err)
	}
	t.running = nil
	prompts, _ := t.mark()
	if prompts > run.prompts { // it ended by itself: how?
		status, err := t.waitMarker(run.prompts, 0)
		if err == nil {
			err = r.checkStatus(t, run.step, run.start, status)
		}
		if err != nil {
			return fmt.Errorf("%s:%d (%s$ %s): %w", r.cfg.file, run.step.Line, t.name, firstLine(run.step.Cmd), err)
		}
		return nil
	}
	if _, err := t.interrupt(prompts); err != nil {
		return fmt.Errorf("Ctrl-C in terminal %s: %w", t.name, err)
	}
	return nil
}

// expect waits until the terminal shows the expected lines.
func (r *runner) expect(t *terminal, want []string, start int, timeout time.Duration) error {
	want = r.substituted(want)
	deadline := time.Now().Add(timeout)
	for {
		bad := r.cfg.places.Match(want, t.lines(start))
		if bad < 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the terminal did not show %q", want[bad])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *runner) substituted(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		for _, sub := range r.cfg.substs {
			l = strings.ReplaceAll(l, sub[0], sub[1])
		}
		out[i] = l
	}
	return out
}

// finish checks what the commands left running show, then stops them.
func (r *runner) finish() error {
	for _, t := range r.order {
		if err := r.stopRunning(t); err != nil {
			r.report(Step{}, err)
			return err
		}
	}
	return nil
}

func (r *runner) closeAll() {
	for _, t := range r.order {
		t.close()
	}
}

// report prints every terminal's transcript, for a failure.
func (r *runner) report(s Step, err error) {
	fmt.Printf("FAILED %s:%d %s$ %s\n  %v\n", r.cfg.file, s.Line, s.Terminal, firstLine(s.Cmd), err)
	for _, t := range r.order {
		fmt.Printf("--- terminal %s ---\n%s\n", t.name, t.transcript())
	}
}

func showsError(lines []string) bool {
	for _, l := range lines {
		if strings.Contains(l, "error:") {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
