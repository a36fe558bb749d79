package dirclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/tlspin"
)

// server starts a TLS test server with handler and returns a client that
// pins its key.
func server(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests are about
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, tlspin.Pin(srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func testKey(t *testing.T) identity.PublicKey {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id.Public()
}

func TestLookup(t *testing.T) {
	record := []byte("\x00signed record bytes\xff")
	key := testKey(t)
	var paths []string
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		writeJSON(w, 200, map[string]string{"record": base64.StdEncoding.EncodeToString(record)})
	})
	got, err := c.LookupName(context.Background(), "Ali ce/..")
	if err != nil || !bytes.Equal(got, record) {
		t.Fatalf("LookupName: %q, %v", got, err)
	}
	got, err = c.LookupKey(context.Background(), key)
	if err != nil || !bytes.Equal(got, record) {
		t.Fatalf("LookupKey: %q, %v", got, err)
	}
	want := []string{"/v1/records/name/Ali%20ce%2F..", "/v1/records/key/" + key.String()}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

func TestBasePath(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/smvs/v1/records/name/alice" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, 200, map[string]string{"record": "AA=="})
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL + "/smvs", srv.URL + "/smvs/"} {
		c, err := New(base, tlspin.Pin(srv.Certificate()))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.LookupName(context.Background(), "alice"); err != nil || !bytes.Equal(got, []byte{0}) {
			t.Errorf("%s: %q, %v", base, got, err)
		}
		if c.String() != srv.URL+"/smvs" {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestPublishAndRemove(t *testing.T) {
	record, tombstone := []byte("record"), []byte("tombstone")
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s, Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		switch r.URL.Path {
		case "/v1/records":
			if body["record"] != base64.StdEncoding.EncodeToString(record) || len(body) != 1 {
				t.Errorf("publish body %v", body)
			}
			writeJSON(w, 200, map[string]string{"record": body["record"]})
		case "/v1/remove":
			if body["tombstone"] != base64.StdEncoding.EncodeToString(tombstone) || len(body) != 1 {
				t.Errorf("remove body %v", body)
			}
			writeJSON(w, 200, map[string]bool{"removed": true})
		default:
			t.Errorf("path %s", r.URL.Path)
		}
	})
	if err := c.Publish(context.Background(), record); err != nil {
		t.Errorf("Publish: %v", err)
	}
	if err := c.Remove(context.Background(), tombstone); err != nil {
		t.Errorf("Remove: %v", err)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		is      error
		message string
	}{
		{"not found", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 404, map[string]string{"error": "not found"})
		}, ErrNotFound, "not found (HTTP 404)"},
		{"conflict", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 409, map[string]string{"error": "name is held by another key"})
		}, ErrConflict, "name is held by another key (HTTP 409)"},
		{"bad request", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]string{"error": "invalid: record expired"})
		}, nil, "invalid: record expired (HTTP 400)"},
		{"not json", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, nil, "bad gateway (HTTP 502)"},
		{"terminal escapes", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 500, map[string]string{"error": "store\x1b[31m failed\nsecond line"})
		}, nil, "store?[31m failed?second line (HTTP 500)"},
		{"long message", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 500, map[string]string{"error": strings.Repeat("x", 10000)})
		}, nil, strings.Repeat("x", maxMessageLen) + "... (HTTP 500)"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]string{"record": strings.Repeat("A", MaxResponseSize)})
		}, ErrBadResponse, "answer larger than"},
		{"bad json", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"record": "not base64!"}`))
		}, ErrBadResponse, "bad response"},
		{"no record", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{}`))
		}, ErrBadResponse, "no record in the answer"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}, nil, "found (HTTP 302)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := server(t, tt.handler)
			_, err := c.LookupName(context.Background(), "alice")
			if err == nil || !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "directory https://") {
				t.Fatalf("error %v, want one with %q", err, tt.message)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if tt.is != ErrNotFound && errors.Is(err, ErrNotFound) {
				t.Errorf("error %v is ErrNotFound", err)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"7", 7 * time.Second},
		{"", 0},
		{"soon", 0},
		{time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), time.Minute},
	} {
		c := server(t, func(w http.ResponseWriter, r *http.Request) {
			if tt.header != "" {
				w.Header().Set("Retry-After", tt.header)
			}
			writeJSON(w, 429, map[string]string{"error": "too many requests"})
		})
		err := c.Publish(context.Background(), []byte("x"))
		var rl *RateLimitedError
		if !errors.As(err, &rl) {
			t.Fatalf("Retry-After %q: error %v, want a *RateLimitedError", tt.header, err)
		}
		if d := rl.RetryAfter - tt.want; d < -2*time.Second || d > 0 {
			t.Errorf("Retry-After %q: RetryAfter %v, want %v", tt.header, rl.RetryAfter, tt.want)
		}
		if !strings.Contains(err.Error(), "too many requests (HTTP 429)") {
			t.Errorf("message %q", err)
		}
	}
}

func TestRemoveNotConfirmed(t *testing.T) {
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]bool{"removed": false})
	})
	if err := c.Remove(context.Background(), []byte("t")); !errors.Is(err, ErrBadResponse) {
		t.Errorf("error %v, want ErrBadResponse", err)
	}
}

func TestWrongPin(t *testing.T) {
	called := false
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	otherPin := "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	c, err := New(srv.URL, otherPin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LookupName(context.Background(), "alice")
	if !errors.Is(err, tlspin.ErrMismatch) || called {
		t.Errorf("error %v, want tlspin.ErrMismatch; request reached the server: %v", err, called)
	}

	// Without a pin, the system's authorities are used, and the test
	// server's certificate is refused.
	c, err = New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupName(context.Background(), "alice"); err == nil || called {
		t.Errorf("unpinned test server accepted: %v", err)
	}
}

func TestContextAndTimeout(t *testing.T) {
	release := make(chan struct{})
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.LookupName(ctx, "alice"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
	if c.http.Timeout != Timeout || Timeout <= 0 {
		t.Errorf("no overall timeout on requests")
	}
}

func TestPlainHTTPLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"record": "AQI="}`)
	}))
	defer srv.Close()
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.LookupName(context.Background(), "alice"); err != nil || !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("%q, %v", got, err)
	}
}

func TestNewRefuses(t *testing.T) {
	pin := "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tt := range []struct{ url, pin, message string }{
		{"http://dir.example.net", "", "plain http is allowed only to a loopback address"},
		{"http://127.0.0.1:8080", pin, "a pin needs https"},
		{"ftp://dir.example.net", "", "want https://"},
		{"dir.example.net", "", "want https://"},
		{"https://user@dir.example.net", "", "no user, query or fragment"},
		{"https://dir.example.net/?q=1", "", "no user, query or fragment"},
		{"https://dir.example.net", "sha1//abc", "not a valid key pin"},
		{"https://dir.example.net", "sha256//abc", "not a valid key pin"},
		{"%zz", "", "directory URL"},
	} {
		if _, err := New(tt.url, tt.pin); err == nil || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("New(%q, %q): %v, want an error with %q", tt.url, tt.pin, err, tt.message)
		}
	}
	for _, u := range []string{"https://dir.example.net", "https://dir.example.net:8443/smvs", "http://localhost:1", "http://[::1]:1"} {
		if _, err := New(u, ""); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}

// TestReach: the check's answer comes back with its reason made safe for a
// terminal; an answer without an address is refused.
func TestReach(t *testing.T) {
	key := identity.PublicKey{}
	var answer any
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Key  string `json:"key"`
			Port int    `json:"port"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/reach" || body.Port != 7447 {
			t.Errorf("%s %+v %v", r.URL.Path, body, err)
		}
		writeJSON(w, 200, answer)
	})
	answer = map[string]any{"address": "192.0.2.7:7447", "reachable": false, "reason": "no\x1b[31m answer"}
	res, err := c.Reach(context.Background(), key, 7447)
	if err != nil || res.Reachable || res.Address != "192.0.2.7:7447" || res.Reason != "no?[31m answer" {
		t.Errorf("Reach: %+v, %v", res, err)
	}
	answer = map[string]any{"reachable": true}
	if _, err := c.Reach(context.Background(), key, 7447); !errors.Is(err, ErrBadResponse) {
		t.Errorf("an answer without an address: %v", err)
	}
}
