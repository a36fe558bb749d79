package passphrase

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/term"
)

// Prompt asks for a passphrase on the terminal with no echo, showing prompt.
// It uses the process's controlling terminal even when standard input and
// output are redirected, and fails with ErrNoTerminal when there is none.
// The prompt is erased afterwards.
func Prompt(prompt string) ([]byte, error) {
	var p []byte
	err := withTerminal(func(in, out *os.File) error {
		var err error
		p, err = readPassword(in, out, prompt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return checkLen(p)
}

// PromptNew asks for a new passphrase on the terminal, as Prompt does, then
// asks again to confirm it and returns ErrMismatch if the two differ.
func PromptNew(prompt string) ([]byte, error) {
	return confirm(Prompt, prompt, "Confirm passphrase:")
}

// confirm asks for a passphrase twice with ask and returns it if both
// answers are the same.
func confirm(ask func(prompt string) ([]byte, error), prompt, again string) ([]byte, error) {
	p, err := ask(prompt)
	if err != nil {
		return nil, err
	}
	q, err := ask(again)
	if err != nil {
		clear(p)
		return nil, err
	}
	defer clear(q)
	if !bytes.Equal(p, q) {
		clear(p)
		return nil, ErrMismatch
	}
	return p, nil
}

// withTerminal runs f with the terminal's input and output: the controlling
// terminal (/dev/tty, or the console on Windows), else standard input if it
// is a terminal.
func withTerminal(f func(in, out *os.File) error) error {
	if runtime.GOOS == "windows" {
		in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
		if err != nil {
			return ErrNoTerminal
		}
		defer in.Close()
		out, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
		if err != nil {
			return ErrNoTerminal
		}
		defer out.Close()
		return f(in, out)
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		defer tty.Close()
		return f(tty, tty)
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		return f(os.Stdin, os.Stdin)
	}
	return ErrNoTerminal
}

// readPassword shows prompt on out and reads a line from the terminal in
// with echo turned off. If the user interrupts it (Ctrl-C), it turns the
// echo back on before the process dies of the signal, so the terminal is
// not left without echo.
func readPassword(in, out *os.File, prompt string) ([]byte, error) {
	fd := int(in.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case sig := <-sigs:
			term.Restore(fd, state)
			fmt.Fprint(out, "\r\n")
			signal.Reset(sig)
			// Die of the signal as if it had never been caught; where a
			// process can't signal itself (Windows), exit as a shell would
			// report it.
			if p, err := os.FindProcess(os.Getpid()); err != nil || p.Signal(sig) != nil {
				os.Exit(130)
			}
		case <-done:
		}
	}()

	fmt.Fprint(out, prompt+" ")
	defer clearLine(out)
	return term.ReadPassword(fd)
}

// clearLine erases the prompt: it opens a new line, which works everywhere,
// then moves back up and erases that line where escape codes work.
func clearLine(out *os.File) {
	const (
		csi = "\033["
		cpl = csi + "F" // cursor to the previous line
		el  = csi + "K" // erase in line
	)
	fmt.Fprint(out, "\r\n")
	if runtime.GOOS != "windows" {
		fmt.Fprint(out, cpl+el)
	}
}
