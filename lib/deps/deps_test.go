package deps

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkg is what go list tells of one package of the module.
type pkg struct {
	ImportPath   string
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// listModule runs go list over every package of the module.
func listModule(t *testing.T) map[string]*pkg {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the packages with: %v", err)
	}
	cmd := exec.Command(goCmd, "list", "-json=ImportPath,Deps,Imports,TestImports,XTestImports", "smvs/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := make(map[string]*pkg)
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestEdgesPointDown checks the edges that once pointed the wrong way:
//
//   - lib/store, the host's storage, does not depend on lib/hostapi, the
//     device protocol: what both need (a message's direction, delivery
//     status, warnings) is in the leaf lib/delivery.
//   - lib/cli, and the commands that never talk to a host (smvs-keygen,
//     smvs-agent), link neither lib/hostapi nor QUIC: connecting to the
//     host is lib/cli/hostcli. smvs-dird does not link lib/hostapi either;
//     it does link QUIC, through lib/directory/server, to dial hosts back
//     for reach checks.
//   - Only the directory server (lib/directory/... and cmd/smvs-dird)
//     imports lib/directory: clients take the name rules from lib/names
//     and the directory API's limits from lib/dirclient. A test elsewhere
//     may import it only to run a real directory, that is together with
//     lib/directory/server.
func TestEdgesPointDown(t *testing.T) {
	pkgs := listModule(t)
	const (
		hostapi   = "smvs/lib/hostapi"
		quic      = "github.com/quic-go/quic-go"
		directory = "smvs/lib/directory"
		server    = "smvs/lib/directory/server"
	)
	for _, rule := range []struct{ from, to string }{
		{"smvs/lib/store", hostapi},
		{"smvs/lib/cli", hostapi},
		{"smvs/lib/cli", quic},
		{"smvs/cmd/smvs-keygen", hostapi},
		{"smvs/cmd/smvs-keygen", quic},
		{"smvs/cmd/smvs-agent", hostapi},
		{"smvs/cmd/smvs-agent", quic},
		{"smvs/cmd/smvs-dird", hostapi},
	} {
		p, ok := pkgs[rule.from]
		if !ok {
			t.Errorf("go list shows no package %s", rule.from)
			continue
		}
		if slices.Contains(p.Deps, rule.to) {
			t.Errorf("%s depends on %s", rule.from, rule.to)
		}
	}

	for path, p := range pkgs {
		if path == directory || strings.HasPrefix(path, directory+"/") || path == "smvs/cmd/smvs-dird" {
			continue
		}
		if slices.Contains(p.Imports, directory) {
			t.Errorf("%s imports %s, the directory server", path, directory)
		}
		for _, imports := range [][]string{p.TestImports, p.XTestImports} {
			if slices.Contains(imports, directory) && !slices.Contains(imports, server) {
				t.Errorf("a test of %s imports %s without running a directory (%s)", path, directory, server)
			}
		}
	}
}
