package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/identity"
)

// result is what one run of smvs-keygen did.
type result struct {
	code           int
	stdout, stderr string
}

// keygen runs smvs-keygen in-process with args, in an environment of its
// own: SMVS_HOME is home, and no passphrase comes from the environment.
func keygen(t *testing.T, home string, args ...string) result {
	t.Helper()
	t.Setenv(cli.HomeEnv, home)
	t.Setenv(cli.PassphraseFDEnv, "")
	t.Setenv(cli.PassphraseFileEnv, "")
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"smvs-keygen"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

var publicLine = regexp.MustCompile(`^Public id: (smvs1[a-z0-9]+)\n$`)

func TestGenerateToFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "identity")
	r := keygen(t, dir, "-o", path)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	m := publicLine.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("stderr %q, want %q", r.stderr, "Public id: smvs1...")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	info, err = os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("new parent directory mode %04o, want 0700", info.Mode().Perm())
	}
	id, err := identity.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	if id.Kind() != identity.KindIdentity || id.Public().String() != m[1] {
		t.Errorf("the file holds a %v key %v; printed %s", id.Kind(), id.Public(), m[1])
	}
}

func TestRefuseOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity")
	original := []byte("the old key, which must survive\n")
	if err := os.WriteFile(path, original, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-o", path}, {"--device", "--output", path}, {"--passphrase-file", filepath.Join(dir, "missing"), "-o", path}} {
		r := keygen(t, dir, args...)
		want := "smvs-keygen: error: " + path + " already exists; refusing to overwrite a key\n"
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "\nsmvs-keygen: hint: ") {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 1 and:\n%s", args, r.code, r.stderr, want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, original) {
			t.Fatalf("%q changed the existing file to:\n%s", args, got)
		}
	}
}

func TestPublicRoundTrip(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "identity")
	r := keygen(t, home, "-o", path)
	m := publicLine.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"-y", path}, {"-y"}, {"-y", "--home", home}} {
		r := keygen(t, home, args...)
		if r.code != 0 || r.stdout != m[1]+"\n" || r.stderr != "" {
			t.Errorf("%q: status %d, stdout %q, want %q; stderr:\n%s", args, r.code, r.stdout, m[1], r.stderr)
		}
	}
	// --home wins over SMVS_HOME.
	r = keygen(t, home, "-y", "--home", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "error: no key file at ") {
		t.Errorf("-y --home elsewhere: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestStdout(t *testing.T) {
	r := keygen(t, t.TempDir())
	m := publicLine.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	id, err := identity.ParseText([]byte(r.stdout))
	if err != nil {
		t.Fatalf("stdout is not a key: %v\n%s", err, r.stdout)
	}
	defer id.Destroy()
	if id.Public().String() != m[1] {
		t.Errorf("stdout holds %v, stderr says %s", id.Public(), m[1])
	}
	if r2 := keygen(t, t.TempDir(), "-o", "-"); r2.code != 0 || !strings.HasPrefix(r2.stdout, "# created: ") {
		t.Errorf("-o -: status %d, stdout:\n%s", r2.code, r2.stdout)
	}
}

func TestDevice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "device")
	r := keygen(t, dir, "--device", "-o", path)
	m := regexp.MustCompile(`^Device id: (smvsdev1[a-z0-9]+)\n$`).FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("status %d, stderr %q, want %q", r.code, r.stderr, "Device id: smvsdev1...")
	}
	id, err := identity.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	if id.Kind() != identity.KindDevice || id.Public().String() != m[1] {
		t.Errorf("the file holds a %v key %v; printed %s", id.Kind(), id.Public(), m[1])
	}
	r = keygen(t, dir, "-y", path)
	if r.code != 0 || r.stdout != m[1]+"\n" {
		t.Errorf("-y: status %d, stdout %q, want %q", r.code, r.stdout, m[1])
	}
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity")
	if r := keygen(t, dir, "-o", path); r.code != 0 {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r := keygen(t, dir, "-y", path)
	if r.code != 1 || !strings.Contains(r.stderr, "hint: if nobody else could have read it, run: chmod 600 "+path+"\n") {
		t.Errorf("mode 0644: status %d, stderr:\n%s", r.code, r.stderr)
	}

	missing := filepath.Join(dir, "missing")
	r = keygen(t, dir, "-y", missing)
	if r.code != 1 || !strings.Contains(r.stderr, "hint: make one with: smvs-keygen -o "+missing+"\n") {
		t.Errorf("missing: status %d, stderr:\n%s", r.code, r.stderr)
	}

	corrupt := filepath.Join(dir, "corrupt")
	if err := os.WriteFile(corrupt, []byte("# created: 2026-11-26T11:04:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = keygen(t, dir, "-y", corrupt)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "smvs-keygen: error: "+corrupt+" is not a valid SMVS key file: ") ||
		!strings.Contains(r.stderr, "hint: the file may be corrupted") {
		t.Errorf("corrupt: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestPassphraseErrorsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "identity")
	r := keygen(t, dir, "--passphrase-file", pw, "-o", path)
	if r.code != 1 || !strings.Contains(r.stderr, "hint: if nobody else could have read it, run: chmod 600 "+pw+"\n") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("the passphrase is in the error:\n%s", r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a key file was left behind: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"-o"}, "missing value for -o"},
		{[]string{"-y", "a", "b"}, `unexpected argument "b"`},
		{[]string{"-y", "a", "--passphrase-fd", "3"}, "flag --passphrase-fd after an argument"},
		{[]string{"-y", "-o", "x"}, "-y can't be used with --output"},
		{[]string{"-y", "--device"}, "-y can't be used with --device"},
		{[]string{"-y", "-p"}, "-y can't be used with --passphrase"},
		{[]string{"--passphrase-fd", "3", "--passphrase-file", "f"}, "--passphrase-fd and --passphrase-file both given"},
		{[]string{"--passphrase-fd", "x"}, `invalid value "x" for flag --passphrase-fd`},
		{[]string{"-y", "--passphrase-fd", "0", "-"}, "the key and its passphrase can't both come from standard input"},
	} {
		r := keygen(t, dir, tt.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "smvs-keygen: error: "+tt.message) ||
			!strings.HasSuffix(r.stderr, "\nsmvs-keygen: hint: see 'smvs-keygen --help'\n") || r.stdout != "" {
			t.Errorf("%q: status %d, stdout %q, stderr:\n%s\nwant status 2, %q and a hint to see --help",
				tt.args, r.code, r.stdout, r.stderr, tt.message)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors left files: %v", entries)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := keygen(t, t.TempDir(), "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "smvs-keygen -y") || r.stderr != "" {
		t.Errorf("--help: status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = keygen(t, t.TempDir(), "--version")
	if r.code != 0 || !regexp.MustCompile(`^smvs-keygen \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: status %d, stdout %q", r.code, r.stdout)
	}
}

// TestManPage checks that man/smvs-keygen.1 documents every flag, and no
// flag that does not exist, so the manual can't drift from --help.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name: "smvs-keygen.1",
		App:  newApp(),
	})
}
