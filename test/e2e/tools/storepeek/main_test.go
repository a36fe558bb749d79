package main

import (
	"errors"
	"io"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	t.Setenv(passphraseFileEnv, "")
	o, err := parse([]string{"-identity", "id", "-passphrase-file", "pw", "store", "3", "1"}, io.Discard)
	if err != nil || o.identity != "id" || o.passFile != "pw" || o.dir != "store" || !slices.Equal(o.seqs, []uint64{3, 1}) {
		t.Fatalf("parse: %+v, %v", o, err)
	}
	t.Setenv(passphraseFileEnv, "from-env")
	if o, err := parse([]string{"-identity", "id", "store", "1"}, io.Discard); err != nil || o.passFile != "from-env" {
		t.Fatalf("the passphrase file from $%s: %+v, %v", passphraseFileEnv, o, err)
	}
	for _, args := range [][]string{
		nil,
		{"store", "1"},                     // no identity
		{"-identity", "id", "store"},       // no seq
		{"-identity", "id", "store", "0"},  // no message has seq 0
		{"-identity", "id", "store", "x1"}, // not a number
		{"-identity", "id", "-bogus", "store", "1"},
	} {
		if _, err := parse(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parse(%q) = %v, want a usage error", args, err)
		}
	}
}
