// Package clitest holds helpers for the commands' tests.
package clitest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

// Buffer is a bytes.Buffer safe to write from a command running in the
// background while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ManPage describes what a command's man page must document.
type ManPage struct {
	// Name is the page's file in the man directory, such as smvs-send.1.
	Name string
	// App is the command's app: the page must document each of its
	// commands and flags, and no flag that does not exist.
	App *urfave.App
	// FlagEnv asks for each flag's environment twin to be documented
	// under ENVIRONMENT.
	FlagEnv bool
	// Env lists more environment variables the page must document.
	Env []string
	// ExitCodes lists exit statuses EXIT STATUS must document (single
	// digits).
	ExitCodes []int
}

// CheckManPage checks that the command's man page documents what m says,
// so the manual can't drift from --help. The test must run in the
// command's directory, two levels below the man directory.
func CheckManPage(t *testing.T, m ManPage) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("..", "..", "man", m.Name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(page), `\-`, "-")

	flags := map[string]bool{"--completion": true}
	var envs []string
	all := append(append([]urfave.Flag(nil), m.App.Flags...), urfave.HelpFlag, urfave.VersionFlag)
	for _, cmd := range m.App.Commands {
		all = append(all, cmd.Flags...)
		for _, name := range cmd.Names() {
			if !regexp.MustCompile(`\n\.B(R)? "?` + regexp.QuoteMeta(name) + `\b`).MatchString(text) {
				t.Errorf("the man page does not document the command %s", name)
			}
		}
	}
	for _, f := range all {
		for _, name := range f.Names() {
			if len(name) == 1 {
				flags["-"+name] = true
			} else {
				flags["--"+name] = true
			}
		}
		if e, ok := f.(interface{ GetEnvVars() []string }); ok && m.FlagEnv {
			envs = append(envs, e.GetEnvVars()...)
		}
	}
	for flag := range flags {
		if !regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(flag) + `($|[^\w-])`).MatchString(text) {
			t.Errorf("the man page does not mention %s", flag)
		}
	}
	if len(envs) > 0 {
		environment := text[strings.Index(text, "\n.SH ENVIRONMENT\n"):]
		for _, env := range envs {
			if !strings.Contains(environment, "\n.B "+env+"\n") {
				t.Errorf("the man page's ENVIRONMENT does not document %s", env)
			}
		}
	}
	for _, env := range m.Env {
		if !strings.Contains(text, "\n.B "+env+"\n") {
			t.Errorf("ENVIRONMENT does not document %s", env)
		}
	}
	for _, code := range m.ExitCodes {
		if !regexp.MustCompile(`\n\.TP\n\.B ` + string(rune('0'+code)) + `\n`).MatchString(text) {
			t.Errorf("EXIT STATUS does not document %d", code)
		}
	}

	// The options documented: the first line after each .TP in OPTIONS.
	options := text[strings.Index(text, "\n.SH OPTIONS\n"):]
	options = options[:strings.Index(options[1:], "\n.SH ")+1]
	for _, m := range regexp.MustCompile(`\n\.TP\n\.BI? "?([^\n]*)`).FindAllStringSubmatch(options, -1) {
		for _, name := range regexp.MustCompile(`--?[\w-]+`).FindAllString(m[1], -1) {
			if !flags[name] {
				t.Errorf("the man page documents %s, which is not a flag", name)
			}
		}
	}
}
