package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A terminal is an interactive bash on a pseudo-terminal of its own, typed
// into as a person would: commands and answers go in as keystrokes, and
// everything the terminal shows (stdout and stderr, as they interleave) is
// kept. A prompt that prints a marker with the last exit status tells when
// a command is done.
type terminal struct {
	name string
	pty  *os.File
	cmd  *exec.Cmd

	mu       sync.Mutex
	out      []byte
	answered int      // output before this offset was searched for questions
	answers  []answer // questions to answer when they appear
	closed   chan struct{}

	running *running // the command still running in the foreground, if any
}

// running is a long-running command left in the foreground (smvs-recv
// --follow): its output is checked when the terminal is next used.
type running struct {
	step    Step
	start   int // the terminal's output before it
	prompts int // the prompts shown before it
}

// answer is what to type when a question appears on the terminal.
type answer struct {
	question string
	text     string
}

const marker = "@@doctest:"

var markerRe = regexp.MustCompile(marker + `(\d+)@@`)

// ansi matches the terminal control sequences programs may print.
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]|\x1b\\][^\x07]*\x07|\r")

// openTerminal starts bash on a new pseudo-terminal in dir; it reads rc
// first, if given.
func openTerminal(name, dir, rc string, answers []answer) (*terminal, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	defer slave.Close()
	cmd := exec.Command("bash", "--norc", "--noprofile", "--noediting", "-i")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb", "PS1="+marker+"$?@@\n", "PS2=", "PROMPT_COMMAND=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, err
	}
	t := &terminal{name: name, pty: master, cmd: cmd, answers: answers, closed: make(chan struct{})}
	go t.read()
	// Wait for the first prompt before typing, so bash owns the terminal.
	if _, err := t.waitMarker(0, 10*time.Second); err != nil {
		t.kill()
		return nil, fmt.Errorf("terminal %s: %w", name, err)
	}
	// bash --rcfile would read /etc/bash.bashrc too, and its prompt.
	if rc != "" {
		t.typeLine(". '" + strings.ReplaceAll(rc, "'", `'\''`) + "'")
		if status, err := t.waitMarker(1, 10*time.Second); err != nil || status != 0 {
			t.kill()
			return nil, fmt.Errorf("terminal %s: reading %s: exit status %d, %v", name, rc, status, err)
		}
	}
	return t, nil
}

func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("naming the pty: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 250}); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// read keeps what the terminal shows, and answers questions as they appear.
func (t *terminal) read() {
	defer close(t.closed)
	buf := make([]byte, 32<<10)
	for {
		n, err := t.pty.Read(buf)
		t.mu.Lock()
		t.out = append(t.out, buf[:n]...)
		t.answerQuestions()
		t.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// answerQuestions types the answer to each question that appeared since
// the last look. Called with t.mu held.
func (t *terminal) answerQuestions() {
	for {
		text := string(t.out[t.answered:])
		first, at := -1, len(text)
		for i, a := range t.answers {
			if j := strings.Index(text, a.question); j >= 0 && j < at {
				first, at = i, j
			}
		}
		if first < 0 {
			return
		}
		t.answered += at + len(t.answers[first].question)
		// A person reads the question before typing: a program that
		// turns echo off after its prompt (a passphrase) gets to do so.
		typed := t.answers[first].text + "\n"
		time.AfterFunc(300*time.Millisecond, func() { t.pty.WriteString(typed) })
	}
}

// mark returns the number of prompts shown so far and the output's length.
func (t *terminal) mark() (prompts, offset int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(markerRe.FindAll(t.out, -1)), len(t.out)
}

// waitMarker waits for prompt number n+1 and returns the exit status it
// shows.
func (t *terminal) waitMarker(n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		t.mu.Lock()
		ms := markerRe.FindAllSubmatch(t.out, -1)
		t.mu.Unlock()
		if len(ms) > n {
			return strconv.Atoi(string(ms[n][1]))
		}
		select {
		case <-t.closed:
			return 0, errors.New("the shell exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("still running after %s", timeout)
		}
	}
}

// lines returns what the terminal showed from offset on, as lines without
// control sequences or prompt markers.
func (t *terminal) lines(offset int) []string {
	t.mu.Lock()
	text := string(t.out[offset:])
	t.mu.Unlock()
	text = markerRe.ReplaceAllString(ansi.ReplaceAllString(text, ""), "")
	var out []string
	for _, l := range strings.Split(text, "\n") {
		out = append(out, strings.TrimRight(l, " \t"))
	}
	return out
}

// typeLine types a command and Enter.
func (t *terminal) typeLine(s string) error {
	_, err := t.pty.WriteString(s + "\n")
	return err
}

// interrupt presses Ctrl-C and waits for the prompt. A command that
// outlives it gets an error that says what each process of the terminal
// was doing.
func (t *terminal) interrupt(prompts int) (int, error) {
	if _, err := t.pty.Write([]byte{3}); err != nil {
		return 0, err
	}
	status, err := t.waitMarker(prompts, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("%w; its processes:\n%s", err, t.processes())
	}
	return status, nil
}

// processes describes every process of the terminal's session: its state,
// where it sleeps, and its signals (pending, blocked, ignored, caught).
func (t *terminal) processes() string {
	if t.cmd.Process == nil {
		return ""
	}
	sid := t.cmd.Process.Pid
	var b strings.Builder
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := unix.Getsid(pid); err != nil || s != sid {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		fmt.Fprintf(&b, "  %d %s wchan=%s", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "), wchan)
		for _, l := range strings.Split(string(status), "\n") {
			for _, field := range []string{"State:", "NSpgid:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:"} {
				if strings.HasPrefix(l, field) {
					b.WriteString(" " + strings.Join(strings.Fields(l), ""))
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// close stops what the terminal still runs, its background jobs too, and
// the shell: Ctrl-C for what runs in the foreground, SIGTERM for the jobs,
// then SIGKILL for whatever is left in the terminal's session.
func (t *terminal) close() {
	prompts, _ := t.mark()
	t.interrupt(prompts)
	t.typeLine(`for j in $(jobs -p); do kill -TERM -- -$j; done 2>/dev/null; wait; exit`)
	select {
	case <-t.closed:
	case <-time.After(15 * time.Second):
	}
	t.kill()
}

// kill ends every process of the terminal's session: the shell and what
// it started, whatever process group they are in.
func (t *terminal) kill() {
	if t.cmd.Process != nil {
		sid := t.cmd.Process.Pid // bash leads the session it started
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if s, err := unix.Getsid(pid); err == nil && s == sid {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	t.cmd.Wait()
	t.pty.Close()
}

// transcript is the whole of what the terminal showed, for a failure.
func (t *terminal) transcript() string {
	return strings.Join(t.lines(0), "\n")
}
