package passphrase

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var lineTests = []struct {
	name, in, want string
	err            error
}{
	{"newline", "secret\n", "secret", nil},
	{"crlf", "secret\r\n", "secret", nil},
	{"no newline", "secret", "secret", nil},
	{"first line only", "secret\nmore\n", "secret", nil},
	{"one line ending only", "secret\n\n", "secret", nil},
	{"spaces kept", " two words \n", " two words ", nil},
	{"lone cr kept", "secret\r", "secret\r", nil},
	{"empty", "", "", ErrEmpty},
	{"empty line", "\n", "", ErrEmpty},
	{"empty crlf line", "\r\nsecret\n", "", ErrEmpty},
	{"longest", strings.Repeat("x", MaxLen) + "\r\n", strings.Repeat("x", MaxLen), nil},
	{"too long", strings.Repeat("x", MaxLen+1) + "\n", "", ErrTooLong},
	{"far too long", strings.Repeat("x", 3*MaxLen), "", ErrTooLong},
}

func TestReadLine(t *testing.T) {
	for _, tt := range lineTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLine(strings.NewReader(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("readLine(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("readLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadLineStopsAtNewline(t *testing.T) {
	r := strings.NewReader("secret\nthe message\n")
	if _, err := readLine(r); err != nil {
		t.Fatal(err)
	}
	if r.Len() != len("the message\n") {
		t.Errorf("readLine consumed past the newline: %d bytes left", r.Len())
	}
}

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

func TestReadFile(t *testing.T) {
	path := writeFile(t, "secret\r\nsecond line\n", 0o600)
	got, err := File(path).Read("unused prompt:")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "secret" {
		t.Errorf("got %q, want %q", got, "secret")
	}
	got, err = File(path).ReadNew("unused prompt:")
	if err != nil || string(got) != "secret" {
		t.Errorf("ReadNew = %q, %v; want %q", got, err, "secret")
	}
}

func TestReadFileInsecure(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		path := writeFile(t, "secret\n", mode)
		_, err := ReadFile(path)
		var insecure *InsecureFileError
		if !errors.As(err, &insecure) {
			t.Fatalf("mode %04o: err = %v, want *InsecureFileError", mode, err)
		}
		if insecure.Path != path || insecure.Mode.Perm() != mode {
			t.Errorf("mode %04o: got %+v", mode, insecure)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the passphrase: %v", err)
		}
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v, want an error saying it is a directory", err)
	}
	path := writeFile(t, "", 0o600)
	_, err := ReadFile(path)
	if !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), path) {
		t.Errorf("empty file: %v, want ErrEmpty naming the file", err)
	}
}

func TestConfirm(t *testing.T) {
	answers := func(a ...string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) {
			p := []byte(a[0])
			a = a[1:]
			return p, nil
		}
	}
	got, err := confirm(answers("secret", "secret"), "new:", "again:")
	if err != nil || string(got) != "secret" {
		t.Errorf("confirm = %q, %v; want %q", got, err, "secret")
	}
	if _, err := confirm(answers("secret", "secreT"), "new:", "again:"); !errors.Is(err, ErrMismatch) {
		t.Errorf("mismatch: %v, want ErrMismatch", err)
	}
	failing := func(string) ([]byte, error) { return nil, ErrNoTerminal }
	if _, err := confirm(failing, "new:", "again:"); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("no terminal: %v, want ErrNoTerminal", err)
	}
}

func TestSourceString(t *testing.T) {
	for _, tt := range []struct {
		s        Source
		want     string
		terminal bool
	}{
		{Source{}, "the terminal", true},
		{FD(0), "file descriptor 0", false},
		{FD(3), "file descriptor 3", false},
		{File("pw.txt"), "file pw.txt", false},
	} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if tt.s.IsTerminal() != tt.terminal {
			t.Errorf("%v: IsTerminal() = %v", tt.s, !tt.terminal)
		}
	}
}

func TestFunc(t *testing.T) {
	path := writeFile(t, "secret\n", 0o600)
	p, err := File(path).Func("unused prompt:")()
	if err != nil || !bytes.Equal(p, []byte("secret")) {
		t.Errorf("Func()() = %q, %v", p, err)
	}
}

// FuzzReadLine checks that readLine returns the first line of any input,
// less one line ending, or refuses it as empty or too long.
func FuzzReadLine(f *testing.F) {
	for _, tt := range lineTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		line, _, _ := bytes.Cut(in, []byte("\n"))
		if bytes.IndexByte(in, '\n') >= 0 {
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		got, err := readLine(bytes.NewReader(in))
		switch {
		case len(line) == 0:
			if !errors.Is(err, ErrEmpty) {
				t.Errorf("readLine(%q) = %q, %v; want ErrEmpty", in, got, err)
			}
		case len(line) > MaxLen:
			if !errors.Is(err, ErrTooLong) {
				t.Errorf("readLine(%q) = %q, %v; want ErrTooLong", in, got, err)
			}
		case err != nil || !bytes.Equal(got, line):
			t.Errorf("readLine(%q) = %q, %v; want %q", in, got, err, line)
		}
	})
}
