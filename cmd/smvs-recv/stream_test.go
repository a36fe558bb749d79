package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"smvs/lib/cli"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// streamedText is a text over the streaming threshold whose characters of
// two, three and four bytes, and a control character, fall across the
// parts' and the reads' boundaries.
var streamedText = strings.Repeat("é€𝄞 plain\x1b[31m \\ tab\t\n", 60000)

func streamedFile() []byte {
	b := make([]byte, 2*hostapi.MaxBodyPart+99)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestStreamedBodies checks that a streamed body is fetched and written
// whole in every output that has a body: the text line, --json and --raw.
func TestStreamedBodies(t *testing.T) {
	h := newHost(t)
	text := h.Add(incoming(aliceKey, at(0), streamedText))
	if !text.Streamed() {
		t.Fatal("the fake host did not stream the text")
	}
	file := streamedFile()
	h.Add(hostapi.Item{Direction: delivery.In, Peer: aliceKey, Sent: at(time.Minute), Kind: wire.KindFile,
		ContentType: "application/octet-stream", FileName: "data.bin", Body: file, Status: delivery.Received})
	h.Add(incoming(aliceKey, at(2*time.Minute), "small"))

	want := "2025-03-01 11:00:00 < alice: " + cli.Escape(streamedText) + "\n" +
		"2025-03-01 11:01:00 < alice: [file data.bin, application/octet-stream, 2.0 MiB, seq 2]\n" +
		"2025-03-01 11:02:00 < alice: small\n"
	if r := ok(t); r.stdout != want {
		t.Errorf("text output of %d bytes, want %d", len(r.stdout), len(want))
	}

	// The --json listing leaves a streamed body out, for --raw to fetch;
	// an export carries it, encoded as it comes.
	r := ok(t, "--json")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines of JSON", len(lines))
	}
	for i, body := range [][]byte{[]byte(streamedText), file} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if m["streamed"] != true || m["body_base64"] != nil || m["text"] != nil || m["size"].(float64) != float64(len(body)) {
			t.Errorf("--json line %d: %.200s", i+1, lines[i])
		}
	}
	r = ok(t, "--export")
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines of the export", len(lines))
	}
	for i, body := range [][]byte{[]byte(streamedText), file} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		got, err := base64.StdEncoding.DecodeString(m["body_base64"].(string))
		if err != nil || !bytes.Equal(got, body) || m["size"].(float64) != float64(len(body)) || m["text"] != nil || m["streamed"] != nil {
			t.Errorf("export line %d: body of %d bytes (%v), size %v", i+1, len(got), err, m["size"])
		}
	}

	if r := ok(t, "--raw", "2"); r.stdout != string(file) {
		t.Errorf("--raw: %d bytes, want %d", len(r.stdout), len(file))
	}
	if r := ok(t, "--raw", "1"); r.stdout != streamedText {
		t.Errorf("--raw of a streamed text: %d bytes", len(r.stdout))
	}

	defer func(f func(io.Writer) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Writer) bool { return true }
	fails(t, 1, "error: refusing to write a text of 1.6 MiB to the terminal", "--raw", "1")
	fails(t, 1, "error: refusing to write a file data.bin, application/octet-stream, 2.0 MiB to the terminal", "--raw", "2")
}

// TestStreamedProgress checks the progress line of a streamed body when
// standard error is a terminal and standard output is not.
func TestStreamedProgress(t *testing.T) {
	h := newHost(t)
	h.Add(hostapi.Item{Direction: delivery.In, Peer: aliceKey, Sent: at(0), Kind: wire.KindFile, Body: streamedFile(), Status: delivery.Received})
	defer func(f func(io.Writer) bool) { isTerminal = f }(isTerminal)
	var stdout, stderr bytes.Buffer
	isTerminal = func(w io.Writer) bool { return w == &stderr }
	code := run(t.Context(), []string{"smvs-recv", "--raw", "1"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 || stdout.Len() != len(streamedFile()) {
		t.Fatalf("status %d, %d bytes, stderr:\n%s", code, stdout.Len(), stderr.String())
	}
	for _, want := range []string{"\rsmvs-recv: [", "of 2.0 MiB"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress lacks %q: %q", want, stderr.String())
		}
	}
	if !strings.HasSuffix(stderr.String(), "\r\x1b[K") {
		t.Errorf("progress not cleared: %q", stderr.String())
	}
}

// TestFollowStreamed checks that --follow prints a streamed text that
// comes live, and goes on following.
func TestFollowStreamed(t *testing.T) {
	h := newHost(t)
	f := follow(t)
	h.Add(incoming(aliceKey, at(0), streamedText))
	h.Add(incoming(aliceKey, at(time.Minute), "after"))
	waitFor(t, "stdout", &f.stdout, "alice: after")
	if code := f.stop(t); code != 0 {
		t.Errorf("status %d", code)
	}
	lines := strings.Split(strings.TrimSuffix(f.stdout.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "2025-03-01 11:00:00 < alice: "+cli.Escape(streamedText) {
		t.Errorf("%d lines; the first of %d bytes", len(lines), len(lines[0]))
	}
}

func TestEscapeTo(t *testing.T) {
	in := strings.Repeat("aé€𝄞\x00\xff", 1000) + "\xe2\x82" // ends in a cut character
	var out bytes.Buffer
	if err := escapeTo(&out, &oneByteAtATime{strings.NewReader(in)}); err != nil || out.String() != cli.Escape(in) {
		t.Errorf("escaped %q…, want %q…, %v", out.String()[:40], cli.Escape(in)[:40], err)
	}
}

type oneByteAtATime struct{ r io.Reader }

func (o *oneByteAtATime) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 3)]) }
