package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSendWaitsForTheSync checks that each send is answered, and only
// once the server has written its block: the floor must pay the fsync.
func TestSendWaitsForTheSync(t *testing.T) {
	dir := t.TempDir()
	go serve(dir)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	log := filepath.Join(dir, "log")
	if err := os.WriteFile(log, nil, 0o600); err != nil { // the server's file, emptied
		t.Fatal(err)
	}
	for range 3 {
		if err := send(dir, strings.NewReader("hi")); err != nil {
			t.Fatal(err)
		}
	}
	// Three blocks written at offsets 0 to 2 of the emptied file: it
	// is 3 blocks long once the third answer is in.
	info, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != 3*block {
		t.Fatalf("the log is %d bytes after 3 sends, want %d", info.Size(), 3*block)
	}
}
