package names

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, name := range []string{"abc", strings.Repeat("z", MaxLen), "a.b", "a-b", "a_b", "0day", "alice2"} {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q) = %v", name, err)
		}
	}
	for _, name := range []string{
		"", "Alice", "ＡＬＩＣＥ", "al", strings.Repeat("a", MaxLen+1), "admin", "root",
		"al ice", "al!ce", "ali/ce", "-alice", "alice.", "_alice", "alicé",
	} {
		if err := Check(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	for typed, want := range map[string]string{"alice": "alice", "Alice": "alice", "ALICE": "alice", "Ａｌｉｃｅ": "alice", "Bob.2": "bob.2"} {
		if got, err := Normalize(typed); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v, want %q", typed, got, err, want)
		}
	}
	for _, typed := range []string{"", "al", "al ice", "Admin", "-alice"} {
		if got, err := Normalize(typed); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), typed) {
			t.Errorf("Normalize(%q) = %q, %v, want ErrInvalid naming the input", typed, got, err)
		}
	}
}
