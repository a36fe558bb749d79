// Package server serves a directory over HTTP with JSON bodies, exactly as
// doc/DIRECTORY.md specifies: publish, look up by name or key, remove, and
// a health check. It adds no rule of its own to the directory's; it maps
// the directory's answers to statuses, limits how fast each client address
// may ask, and keeps names, keys and addresses out of its logs unless the
// operator turns the access log on.
package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smvs/lib/directory"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

// Limits and defaults.
const (
	// MaxBody is the largest request body accepted; a larger one gets 413.
	MaxBody = 16 << 10
	// DefaultRate and DefaultBurst are the rate limit smvs-dird applies by
	// default: requests per second per client address, on average, and at
	// once.
	DefaultRate  = 20
	DefaultBurst = 40
	// storeTimeout bounds one request's work in the store.
	storeTimeout = 10 * time.Second
)

// Options configures a Handler. The zero value serves with no rate limit
// and logs nothing.
type Options struct {
	// Rate is how many requests a second each client address may make on
	// average, and Burst how many it may make at once (1 if lower). A Rate
	// of 0 turns rate limiting off, for when something in front limits.
	Rate  float64
	Burst int
	// ClientIPHeader, if set, names the header that a trusted proxy in
	// front sets to the client's address (X-Forwarded-For, X-Real-IP, …;
	// the last address in it counts). Without it, or when a request lacks
	// it, the client is the connection's remote address. Set it only if
	// every request comes through that proxy: anyone else can write the
	// header.
	ClientIPHeader string
	// Logger receives store failures and the outcome of every publish and
	// remove, with no name, key or address in them. Nil discards them.
	Logger *slog.Logger
	// AccessLog logs every request on Logger with its client address,
	// method, path (so the name or key looked up), status and duration.
	// It tells whoever reads the logs who looked up whom: leave it off
	// unless the operator asks for it.
	AccessLog bool
	// ReachCheck answers reach checks (POST /v1/reach): the directory
	// dials the asking host back, at the address its request came from
	// and the port it names, and says whether the handshake completed.
	ReachCheck bool
	// Metrics, if not nil, gets the Handler's Prometheus metrics: requests
	// by operation and status, refusals by reason.
	Metrics prometheus.Registerer
}

// Handler is the directory's http.Handler. It is safe for concurrent use.
type Handler struct {
	dir    *directory.Directory
	log    *slog.Logger
	opts   Options
	limits *limiter // nil if there is no rate limit
	prober *prober  // nil without Options.ReachCheck
	mux    *http.ServeMux
	stats  *dirMetrics
}

// New returns a Handler that serves d.
func New(d *directory.Directory, opts Options) *Handler {
	h := &Handler{dir: d, log: opts.Logger, opts: opts, mux: http.NewServeMux(), stats: newDirMetrics(opts.Metrics)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if opts.Rate > 0 {
		h.limits = newLimiter(opts.Rate, max(opts.Burst, 1), maxClients)
	}
	if opts.ReachCheck {
		p, err := newProber()
		if err != nil {
			panic(err) // a key from crypto/rand
		}
		h.prober = p
	}
	for _, route := range []struct {
		method, path string
		handle       http.HandlerFunc
	}{
		{http.MethodPost, "/v1/records", h.publish},
		{http.MethodGet, "/v1/records/name/{name}", h.lookupName},
		{http.MethodGet, "/v1/records/key/{key}", h.lookupKey},
		{http.MethodPost, "/v1/remove", h.remove},
		{http.MethodPost, "/v1/reach", h.reach},
		{http.MethodGet, "/healthz", h.health},
	} {
		h.mux.HandleFunc(route.method+" "+route.path, route.handle)
		allow := route.method
		if allow == http.MethodGet {
			allow += ", " + http.MethodHead
		}
		// Any other method: the method-less pattern is less specific.
		h.mux.HandleFunc(route.path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { notFound(w) })
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := h.client(r)
	op := opOf(r)
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	w = rec
	start := time.Now()
	defer func() {
		h.stats.answered(op, rec.status)
		if h.opts.AccessLog {
			h.log.Info("access", "client", client.String(), "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "bytes", rec.n, "duration", time.Since(start))
		}
	}()
	// Answers change and look-ups are nobody else's business: no caching.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.limits != nil {
		if ok, wait := h.limits.allow(clientNetwork(client), time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
			h.stats.refused("rate_limited")
			writeError(w, http.StatusTooManyRequests, "too many requests")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

type recordBody struct {
	Record string `json:"record"`
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	signed, ok := readBody(w, r, "record")
	if !ok {
		h.stats.refused("bad_request")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if _, err := h.dir.Publish(ctx, signed); err != nil {
		h.refuse(w, "publish", err, privateParts(signed))
		return
	}
	h.log.Info("publish", "outcome", "stored")
	writeJSON(w, http.StatusOK, recordBody{base64.StdEncoding.EncodeToString(signed)})
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	signed, ok := readBody(w, r, "tombstone")
	if !ok {
		h.stats.refused("bad_request")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if _, err := h.dir.Remove(ctx, signed); err != nil {
		h.refuse(w, "remove", err, privateParts(signed))
		return
	}
	h.log.Info("remove", "outcome", "removed")
	writeJSON(w, http.StatusOK, struct {
		Removed bool `json:"removed"`
	}{true})
}

func (h *Handler) lookupName(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	name := r.PathValue("name")
	signed, err := h.dir.LookupName(ctx, name)
	if err != nil {
		normalised, _ := names.Normalize(name)
		h.refuse(w, "look-up", err, []string{name, normalised})
		return
	}
	writeJSON(w, http.StatusOK, recordBody{base64.StdEncoding.EncodeToString(signed)})
}

func (h *Handler) lookupKey(w http.ResponseWriter, r *http.Request) {
	key, err := identity.ParsePublicKey(r.PathValue("key"))
	if err != nil || key.Kind() != identity.KindIdentity {
		notFound(w) // an impossible key is simply not there
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	signed, err := h.dir.LookupKey(ctx, key.Bytes())
	if err != nil {
		h.refuse(w, "look-up", err, nil)
		return
	}
	writeJSON(w, http.StatusOK, recordBody{base64.StdEncoding.EncodeToString(signed)})
}

type healthBody struct {
	Status string `json:"status"`
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if err := h.dir.Store.Ping(ctx); err != nil {
		if r.Context().Err() == nil {
			h.log.Error("health check: the store can't be reached", "err", redact(err.Error(), nil))
		}
		writeJSON(w, http.StatusServiceUnavailable, healthBody{"unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, healthBody{"ok"})
}

// refuse answers a request the directory refused or failed, and logs the
// outcome of a publish or remove. private lists what the request holds that
// a store's error may repeat and the log must not.
func (h *Handler) refuse(w http.ResponseWriter, op string, err error, private []string) {
	var status int
	var msg, outcome string
	switch {
	case errors.Is(err, directory.ErrNotFound):
		notFound(w)
		if op != "look-up" {
			h.log.Info(op, "outcome", "not found")
		}
		return
	case errors.Is(err, directory.ErrInvalid):
		status, msg, outcome = http.StatusBadRequest, err.Error(), "invalid"
	case errors.Is(err, directory.ErrStale):
		status, msg, outcome = http.StatusConflict, err.Error(), "stale"
	case errors.Is(err, directory.ErrNameTaken):
		status, msg, outcome = http.StatusConflict, err.Error(), "name taken"
	case errors.Is(err, directory.ErrConflict), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		status, msg, outcome = http.StatusServiceUnavailable, "the directory is busy; try again", "busy"
		h.log.Warn(op+": the store is busy", "err", redact(err.Error(), private))
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		status, msg, outcome = http.StatusServiceUnavailable, "request canceled", "canceled"
	default:
		status, msg, outcome = http.StatusInternalServerError, "the directory's store failed; nothing was changed", "failed"
		h.log.Error(op+": the store failed", "err", redact(err.Error(), private))
	}
	if op != "look-up" {
		h.log.Info(op, "outcome", outcome)
	}
	h.stats.refused(strings.ReplaceAll(outcome, " ", "_"))
	writeError(w, status, msg)
}

// hexKey matches a key as stores print them in errors (%x).
var hexKey = regexp.MustCompile(`[0-9a-fA-F]{64}`)

// redact removes from a store's error message the names and keys it may
// repeat, so that logs say nothing of who looked up or published what.
func redact(msg string, private []string) string {
	for _, p := range private {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "…")
		}
	}
	return hexKey.ReplaceAllLiteralString(msg, "…")
}

// privateParts returns the name and key a signed record or tombstone
// carries, without verifying it.
func privateParts(signed []byte) []string {
	s, err := wire.DecodeSigned(signed)
	if err != nil {
		return nil
	}
	if r, err := wire.DecodeRecord(s.Body); err == nil {
		return []string{r.Name, hex.EncodeToString(r.Identity)}
	}
	if t, err := wire.DecodeTombstone(s.Body); err == nil {
		return []string{t.Name, hex.EncodeToString(t.Identity)}
	}
	return nil
}

// recorder remembers the status and size of a response, for the access log.
type recorder struct {
	http.ResponseWriter
	status, n int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
