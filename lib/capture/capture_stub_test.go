//go:build !mediadevices

package capture

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNotBuiltIn(t *testing.T) {
	if Available() {
		t.Error("Available() is true in a build without the mediadevices tag")
	}
	_, _, _, err := Open(context.Background(), Options{Camera: true, TestSource: true})
	if !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Open: %v, want ErrNotBuiltIn", err)
	}
	for _, want := range []string{"smvs-call was built without camera and microphone support", "-tags mediadevices"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
