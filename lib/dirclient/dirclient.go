// Package dirclient is a client of the SMVS directory's HTTP API
// (doc/DIRECTORY.md): it publishes records, looks them up by name and by
// key, and sends tombstones.
//
// The client does not trust the directory. It returns the signed bytes the
// directory sent, exactly as sent; the caller verifies them (see
// wire.VerifyRecord and package contacts). What the client does guard
// against is a directory that misbehaves as a server: answers are bounded
// in size and time, redirects are not followed, and the directory's error
// messages are reduced to one line of printable text before anyone sees
// them.
//
// A Client is safe for concurrent use.
package dirclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"smvs/lib/identity"
	"smvs/lib/tlspin"
)

// Limits and timeouts.
const (
	// Timeout bounds one request, from dialling to reading the answer.
	Timeout = 30 * time.Second
	// MaxRecordSize bounds an encoded signed record or tombstone, as the
	// directory API fixes it: a directory stores none larger, and a client
	// takes none larger from a directory. A record is a little over 1.3
	// KiB in practice, mostly the KEM key, and about 163 bytes more for
	// each rotation statement it carries (at most wire.MaxRotations).
	MaxRecordSize = 8192
	// MaxResponseSize bounds an answer's body: a record of MaxRecordSize
	// is about 11 KiB of JSON.
	MaxResponseSize = 64 << 10
	// maxMessageLen bounds the directory's error message as shown.
	maxMessageLen = 200
)

var (
	// ErrNotFound means the directory serves no record for the name or
	// key (unknown, expired and removed look alike), or, for a
	// tombstone, has none to remove.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the directory refused a record or tombstone
	// because its sequence number is not above the stored one, or the
	// name is held by another key.
	ErrConflict = errors.New("conflict")
	// ErrBadResponse means the directory's answer is not what the API
	// says it is.
	ErrBadResponse = errors.New("bad response from the directory")
)

// Error is an error answer from a directory: its status and its message.
// It matches ErrNotFound for a 404 and ErrConflict for a 409 with errors.Is.
type Error struct {
	Directory string // the directory's base URL
	Status    int    // the HTTP status
	Message   string // the directory's one-line message, made safe to print
}

func (e *Error) Error() string {
	return fmt.Sprintf("directory %s: %s", e.Directory, e.Message)
}

// Is reports whether e is the answer target stands for.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// RateLimitedError means the directory refused the request for now: the
// client asked too often. RetryAfter is how long the directory asked it to
// wait, zero if it did not say.
type RateLimitedError struct {
	Directory  string
	RetryAfter time.Duration
	Message    string
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("directory %s: %s", e.Directory, e.Message)
}

// Client talks to one directory.
type Client struct {
	base string // the base URL, with no final slash
	http *http.Client
}

// New returns a client of the directory at baseURL, an https URL (plain
// http only to a loopback address, for tests and local set-ups). With a
// pin, "sha256//" and the base64 SHA-256 of the server key's
// SubjectPublicKeyInfo, the client accepts exactly that key and no
// certificate authority; without one it uses the system's authorities.
func New(baseURL, pin string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("directory URL %q: %w", baseURL, err)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("directory URL %q: want https://HOST[:PORT][/PATH]", baseURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("directory URL %q: no user, query or fragment allowed", baseURL)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("directory URL %q: plain http is allowed only to a loopback address; use https", baseURL)
	case u.Scheme == "http" && pin != "":
		return nil, fmt.Errorf("directory URL %q: a pin needs https", baseURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("directory URL %q: want https://HOST[:PORT][/PATH]", baseURL)
	}
	var tlsConfig *tls.Config
	if pin != "" {
		if tlsConfig, err = tlspin.ClientConfig(pin); err != nil {
			return nil, fmt.Errorf("directory pin for %s: %w", baseURL, err)
		}
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		IdleConnTimeout:       60 * time.Second,
		MaxIdleConns:          4,
		ForceAttemptHTTP2:     true,
	}
	return &Client{
		base: strings.TrimSuffix(u.String(), "/"),
		http: &http.Client{
			Transport: transport,
			Timeout:   Timeout,
			// A directory answers where it was asked; a redirect could
			// take look-ups to a server nobody chose.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String returns the directory's base URL.
func (c *Client) String() string { return c.base }

// Publish sends a signed record to the directory, which stores it if it
// passes the directory's checks and its sequence number is above the
// stored one.
func (c *Client) Publish(ctx context.Context, signed []byte) error {
	var answer struct {
		Record []byte `json:"record"`
	}
	return c.do(ctx, http.MethodPost, "/v1/records", map[string][]byte{"record": signed}, &answer)
}

// LookupName returns the signed record the directory serves for name,
// which it normalises. The record is unverified.
func (c *Client) LookupName(ctx context.Context, name string) ([]byte, error) {
	return c.lookup(ctx, "/v1/records/name/"+url.PathEscape(name))
}

// LookupKey returns the signed record the directory serves for an
// identity key. The record is unverified.
func (c *Client) LookupKey(ctx context.Context, key identity.PublicKey) ([]byte, error) {
	return c.lookup(ctx, "/v1/records/key/"+url.PathEscape(key.String()))
}

func (c *Client) lookup(ctx context.Context, path string) ([]byte, error) {
	var answer struct {
		Record []byte `json:"record"` // encoding/json reads standard base64
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &answer); err != nil {
		return nil, err
	}
	if len(answer.Record) == 0 {
		return nil, fmt.Errorf("directory %s: %w: no record in the answer", c.base, ErrBadResponse)
	}
	return answer.Record, nil
}

// Remove sends a signed tombstone, so the directory stops serving the
// key's record and frees its name.
func (c *Client) Remove(ctx context.Context, tombstone []byte) error {
	var answer struct {
		Removed bool `json:"removed"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/remove", map[string][]byte{"tombstone": tombstone}, &answer); err != nil {
		return err
	}
	if !answer.Removed {
		return fmt.Errorf("directory %s: %w: the answer does not say the record was removed", c.base, ErrBadResponse)
	}
	return nil
}

// do sends a request with body (JSON, if not nil) and decodes a 200
// answer into answer, or returns the error the directory answered.
func (c *Client) do(ctx context.Context, method, path string, body, answer any) error {
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body) // []byte fields become standard base64
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reqBody)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "smvs")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("directory %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if ctx.Err() != nil {
		// The deadline passed while the answer came: whatever arrived
		// (an empty or cut answer, seen under load) is not the
		// directory's word, and the caller wants to know it timed out.
		return fmt.Errorf("directory %s: %w", c.base, context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("directory %s: reading the answer: %w", c.base, unwrapURLError(err))
	}
	if len(data) > MaxResponseSize {
		return fmt.Errorf("directory %s: %w: answer larger than %d bytes", c.base, ErrBadResponse, MaxResponseSize)
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError(resp, data)
	}
	if err := json.Unmarshal(data, answer); err != nil {
		return fmt.Errorf("directory %s: %w: %v", c.base, ErrBadResponse, err)
	}
	return nil
}

// unwrapURLError drops the *url.Error around a transport error: it repeats
// the method and URL, which the caller's message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError turns an error answer into an *Error or a
// *RateLimitedError.
func (c *Client) statusError(resp *http.Response, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		msg = printable(e.Error)
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	msg = fmt.Sprintf("%s (HTTP %d)", msg, resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests {
		return &RateLimitedError{Directory: c.base, RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Message: msg}
	}
	return &Error{Directory: c.base, Status: resp.StatusCode, Message: msg}
}

// printable makes a message from the directory safe to show on a
// terminal: one line, no control characters, at most maxMessageLen runes.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxMessageLen {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// ReachResult is a directory's answer to a reach check (Reach).
type ReachResult struct {
	// Address is where the directory dialled: the address the request
	// came from, with the port asked for.
	Address string `json:"address"`
	// Reachable says whether the handshake completed there, with the
	// key asked for.
	Reachable bool `json:"reachable"`
	// Reason says why not, in the directory's words (printable: escaped
	// for a terminal).
	Reason string `json:"reason,omitempty"`
}

// Reach asks the directory to dial this machine back on UDP port port and
// complete a QUIC handshake with the host of key there: whether others
// can reach the host (doc/DIRECTORY.md, POST /v1/reach).
func (c *Client) Reach(ctx context.Context, key identity.PublicKey, port int) (*ReachResult, error) {
	var answer ReachResult
	body := map[string]any{"key": key.String(), "port": port}
	if err := c.do(ctx, http.MethodPost, "/v1/reach", body, &answer); err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddrPort(answer.Address); err != nil {
		return nil, fmt.Errorf("directory %s: %w: reach check address %q", c.base, ErrBadResponse, printable(answer.Address))
	}
	answer.Reason = printable(answer.Reason)
	return &answer, nil
}
