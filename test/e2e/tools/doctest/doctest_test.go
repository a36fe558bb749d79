package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseMarkdown(t *testing.T) {
	doc := "# Story\n\ntext\n\n```console\n$ echo hi \\\n  there\nhi there\nbob$ smvs-recv --follow\n```\n\n```console\n< alice: hi\n```\n"
	steps, err := ParseMarkdown(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Fatalf("got %d steps: %+v", len(steps), steps)
	}
	if s := steps[0]; s.Terminal != "" || s.Cmd != "echo hi \\\n  there" || s.Line != 6 || s.Section != "Story" ||
		len(s.Expect) != 1 || s.Expect[0] != "hi there" {
		t.Errorf("step 0: %+v", s)
	}
	if s := steps[1]; s.Terminal != "bob" || s.Cmd != "smvs-recv --follow" || len(s.Expect) != 0 {
		t.Errorf("step 1: %+v", s)
	}
	if s := steps[2]; s.Cmd != "" || len(s.Expect) != 1 {
		t.Errorf("step 2: %+v", s)
	}
	if _, err := ParseMarkdown("```console\n$ a \\\n```\n"); err == nil {
		t.Error("a continuation past the block's end was accepted")
	}
	if _, err := ParseMarkdown("```console\n$ a\n"); err == nil {
		t.Error("an unclosed block was accepted")
	}
	if _, err := ParseMarkdown("```console\n$ \n```"); err == nil {
		t.Error("a prompt with no command was accepted")
	}
}

func TestParseMan(t *testing.T) {
	page := ".SH DESCRIPTION\n.EX\n$ not an example\n.EE\n.SH EXAMPLES\nSend:\n.PP\n.EX\n$ echo hi | smvs\\-send bob\n.EE\n.EX\ncase $? in\n.EE\n.SH SEE ALSO\n"
	steps, err := ParseMan(page)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Cmd != "echo hi | smvs-send bob" || steps[0].Section != "Send:" {
		t.Fatalf("got %+v", steps)
	}
	// A pipe at the end of a line goes on to the next, as in bash; each
	// block's section is the paragraph before it.
	page = ".SH EXAMPLES\nLook\n.B bob\nup:\n.EX\n$ smvs\\-recv |\n    jq .text\nhi\n.EE\nCron:\n.EX\n0 4 * * * a\n.EE\nThe texts\n.BR jq (1):\n.EX\n$ a &&\n  b\n.EE\n"
	if steps, err = ParseMan(page); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Cmd != "smvs-recv |\n    jq .text" || len(steps[0].Expect) != 1 ||
		steps[0].Section != "Look bob up:" || steps[1].Cmd != "a &&\n  b" || steps[1].Section != "The texts jq(1):" {
		t.Fatalf("got %+v", steps)
	}
}

func TestMatchBindsPlaceholders(t *testing.T) {
	p := NewPlaceholders([]string{"smvs1", "sha256//"}, []string{"7K2M-QX9P"})
	actual := []string{"noise", "Public id: smvs1abcdef", "code 1234-5678 at 2031-01-02 03:04:05 UTC"}
	if bad := p.Match([]string{"Public id: smvs1xy…", "code 7K2M-QX9P at 2026-11-26 13:07:25 UTC"}, actual); bad != -1 {
		t.Fatalf("line %d did not match", bad)
	}
	cmd, err := p.Fill("smvs-register add bob smvs1xy… --code 7K2M-QX9P")
	if err != nil || cmd != "smvs-register add bob smvs1abcdef --code 1234-5678" {
		t.Fatalf("Fill = %q, %v", cmd, err)
	}
	// Bound: the same value, or the value shortened, and nothing else.
	if p.Match([]string{"id smvs1xy…"}, []string{"id smvs1abc…"}) != -1 {
		t.Error("the bound value, shortened, did not match")
	}
	if p.Match([]string{"id smvs1xy…"}, []string{"id smvs1zzz"}) != 0 {
		t.Error("another key matched a bound placeholder")
	}
	if _, err := p.Fill("echo sha256//abc…"); err == nil {
		t.Error("an unbound placeholder was filled")
	}
	q := NewPlaceholders(nil, []string{"42"})
	if q.Match([]string{"port 7442, [seq 42]"}, []string{"port 7442, [seq 3]"}) != -1 || q.bound["42"] != "3" {
		t.Errorf("an exact token was bound to %q", q.bound["42"])
	}
	if p.Match([]string{"a", "b"}, []string{"b", "a"}) != 1 {
		t.Error("lines out of order matched")
	}
	if p.Match([]string{"NAME  STATE"}, []string{"NAME      STATE"}) != -1 {
		t.Error("columns of another width did not match")
	}
}

// TestRun runs documents through real terminals: one that holds, and
// ones that must fail.
func TestRun(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	good := "# S\n```console\n$ echo key smvs1abc\nkey smvs1x…\nbob$ read -p $'go? [y/N\\x5d ' a; echo \"got $a\"\ngo? [y/N] y\ngot y\nbob$ tail -f /dev/null\n$ echo again smvs1x…\nagain smvs1abc\n$ sh -c 'echo smvs: error: no; exit 1'\nsmvs: error: …\n```\n"
	bad := map[string]string{
		"wrong output":   "```console\n$ echo one\ntwo\n```\n",
		"failed command": "```console\n$ false\n```\n",
		"long one died":  "```console\n$ sh -c 'exit 3' --follow\n```\n",
	}
	dir := t.TempDir()
	// Terminal laptop is a machine of its own; a job started with & has
	// written its file before the next command reads it.
	rc := filepath.Join(dir, "laptop.rc")
	if err := os.WriteFile(rc, []byte("export WHERE=laptop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good += "```console\nlaptop$ echo on $WHERE\non laptop\n$ echo on ${WHERE:-desktop}\non desktop\n" +
		"$ (sleep 0.1; echo started > job.out) &\n$ cat job.out\nstarted\n```\n"
	runDoc := func(doc string) error {
		file := filepath.Join(dir, "doc.md")
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := parseFlags([]string{"-dir", dir, "-timeout", "3s", "-settle", "200ms", "-prefix", "smvs1",
			"-answer", "[y/N] =y", "-rc", "laptop=" + rc, file})
		if err != nil {
			t.Fatal(err)
		}
		return run(cfg)
	}
	if err := runDoc(good); err != nil {
		t.Errorf("a true document failed: %v", err)
	}
	for name, doc := range bad {
		start := time.Now()
		if err := runDoc(doc); err == nil {
			t.Errorf("%s: passed", name)
		} else if !strings.Contains(err.Error(), "doc.md:") {
			t.Errorf("%s: the error names no line: %v", name, err)
		}
		t.Logf("%s: failed in %v", name, time.Since(start))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("```console\n$ a \\\nb\nout\n```\n")
	f.Add(".SH EXAMPLES\n.EX\n$ a\\-b\n.EE\n")
	f.Fuzz(func(t *testing.T, doc string) {
		for _, parse := range []func(string) ([]Step, error){ParseMarkdown, ParseMan} {
			steps, err := parse(doc)
			if err != nil {
				continue
			}
			for _, s := range steps {
				if s.Cmd == "" && len(s.Expect) == 0 {
					t.Fatalf("an empty step: %+v", s)
				}
			}
		}
	})
}

// Ctrl-C stops a command in a terminal even when doctest was started with
// SIGINT and SIGHUP ignored, as under nohup or in a script's background
// job, which every command would otherwise inherit.
func TestCtrlCWhenStartedIgnoringSIGINT(t *testing.T) {
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	defer signal.Reset(syscall.SIGINT, syscall.SIGHUP)
	restoreTerminalSignals()
	dir := t.TempDir()
	file := filepath.Join(dir, "doc.md")
	doc := "```console\nbob$ tail -f /dev/null\nbob$ echo after\nafter\n```\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"-dir", dir, "-timeout", "3s", "-settle", "200ms", file})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(cfg); err != nil {
		t.Errorf("Ctrl-C did not stop tail -f: %v", err)
	}
}
