package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's clip is what scripts/demo says it is.
func TestProbeDemoClip(t *testing.T) {
	var out bytes.Buffer
	if err := probe("../../../../testdata/media/hello.ivf", &out); err != nil {
		t.Fatal(err)
	}
	want := "codec_name=vp8\nwidth=320\nheight=180\nnb_read_frames=90\n"
	if out.String() != want {
		t.Errorf("got\n%swant\n%s", out.String(), want)
	}
}

func TestProbeRefusesACutFile(t *testing.T) {
	clip, err := os.ReadFile("../../../../testdata/media/hello.ivf")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.ivf")
	if err := os.WriteFile(cut, clip[:len(clip)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	err = probe(cut, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "after 89 frames") {
		t.Errorf("probe of a file cut inside its last frame: %v", err)
	}
}
