package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"smvs/lib/directory"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// start is the test clock's first reading.
var start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// env is a handler over a fresh SQLite store, with a clock the test moves.
type env struct {
	t     *testing.T
	h     *Handler
	store *faultyStore
	now   time.Time
	log   bytes.Buffer
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, store: &faultyStore{Store: s}, now: start}
	opts.Logger = slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.h = New(&directory.Directory{Store: e.store, Now: func() time.Time { return e.now }}, opts)
	return e
}

// do sends a request from 192.0.2.1 and returns the response.
func (e *env) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// user is an identity that signs records and tombstones for a name.
type user struct {
	id   *identity.Identity
	name string
	seq  uint64
}

func newUser(t *testing.T, name string) *user {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return &user{id: id, name: name}
}

func (u *user) key() string { return u.id.Public().String() }

// record signs the user's next record, issued at issued and valid for 30
// days; edit may change it before signing.
func (u *user) record(t *testing.T, issued time.Time, edit ...func(*wire.Record)) []byte {
	t.Helper()
	kem, err := u.id.CurrentKEM(issued)
	if err != nil {
		t.Fatal(err)
	}
	u.seq++
	r := &wire.Record{
		Name: u.name, Identity: u.id.Public().Bytes(), KEM: kem.Public(), Host: "127.0.0.1:7447",
		Seq: u.seq, Issued: issued.UnixMilli(), Expires: issued.Add(30 * 24 * time.Hour).UnixMilli(),
	}
	for _, f := range edit {
		f(r)
	}
	signed, err := wire.SignRecord(u.id.Signer(), r)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (u *user) tombstone(t *testing.T, seq uint64) []byte {
	t.Helper()
	signed, err := wire.SignTombstone(u.id.Signer(), &wire.Tombstone{Identity: u.id.Public().Bytes(), Seq: seq, Issued: start.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func body(field string, b []byte) string {
	return fmt.Sprintf(`{%q: %q}`, field, base64.StdEncoding.EncodeToString(b))
}

// check fails the test unless w has the status and, if want is not "", the
// JSON body want (compared as JSON).
func check(t *testing.T, what string, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if w.Code != status {
		t.Errorf("%s: status %d, want %d; body %.200s", what, w.Code, status, w.Body)
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if !json.Valid(w.Body.Bytes()) || !bytes.HasSuffix(w.Body.Bytes(), []byte("}\n")) {
		t.Errorf("%s: body is not one JSON object and a newline: %q", what, w.Body)
	}
	if want == "" {
		return
	}
	var got, exp any
	json.Unmarshal(w.Body.Bytes(), &got)
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if g, x := mustJSON(got), mustJSON(exp); !bytes.Equal(g, x) {
		t.Errorf("%s: body %.200s, want %.200s", what, g, x)
	}
}

// errorMessage returns the "error" of a JSON error body.
func errorMessage(w *httptest.ResponseRecorder) string {
	var b errorBody
	json.Unmarshal(w.Body.Bytes(), &b)
	return b.Error
}

func recordJSON(signed []byte) string { return body("record", signed) }

func TestPublishAndLookUp(t *testing.T) {
	e := newEnv(t, Options{})
	alice := newUser(t, "alice")
	rec := alice.record(t, start)
	check(t, "publish", e.do("POST", "/v1/records", body("record", rec)), 200, recordJSON(rec))
	for _, path := range []string{
		"/v1/records/name/alice",
		"/v1/records/name/Alice",
		"/v1/records/name/%EF%BC%A1lice", // a fullwidth A
		"/v1/records/key/" + alice.key(),
	} {
		check(t, path, e.do("GET", path, ""), 200, recordJSON(rec))
	}
	w := e.do("HEAD", "/v1/records/name/alice", "")
	if w.Code != 200 {
		t.Errorf("HEAD: status %d", w.Code)
	}

	// An update replaces the record.
	e.now = start.Add(time.Hour)
	newer := alice.record(t, e.now)
	check(t, "update", e.do("POST", "/v1/records", body("record", newer)), 200, recordJSON(newer))
	check(t, "look-up after update", e.do("GET", "/v1/records/name/alice", ""), 200, recordJSON(newer))
}

// TestRefusals checks every refused request's status and that it leaves the
// stored record as it was.
func TestRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	alice, mallory := newUser(t, "alice"), newUser(t, "mallory")
	alice.seq = 4
	rec := alice.record(t, start) // seq 5
	check(t, "publish", e.do("POST", "/v1/records", body("record", rec)), 200, "")
	alice.seq = 2
	stale := alice.record(t, start) // seq 3
	alice.seq = 4
	sameSeq := alice.record(t, start.Add(time.Minute)) // seq 5 again
	valid := alice.record(t, start)                    // seq 6, would be accepted

	mallory.name = "alice"
	squat := mallory.record(t, start)
	expired := alice.record(t, start.Add(-40*24*time.Hour))
	tooLong := alice.record(t, start, func(r *wire.Record) { r.Expires = start.Add(100 * 24 * time.Hour).UnixMilli() })
	future := alice.record(t, start.Add(time.Hour))
	reserved := alice.record(t, start, func(r *wire.Record) { r.Name = "admin" })
	forged := bytes.Clone(valid)
	forged[len(forged)-1] ^= 1
	b64 := base64.StdEncoding.EncodeToString(valid)
	big := `{"record": "` + strings.Repeat("A", MaxBody) + `"}`

	for _, tt := range []struct {
		what    string
		method  string
		path    string
		body    string
		status  int
		message string // a part of the error message
	}{
		{"empty body", "POST", "/v1/records", "", 400, "malformed JSON: empty body"},
		{"not JSON", "POST", "/v1/records", "record=" + b64, 400, "malformed JSON"},
		{"truncated JSON", "POST", "/v1/records", `{"record": "` + b64, 400, "malformed JSON"},
		{"an array", "POST", "/v1/records", `["` + b64 + `"]`, 400, `malformed JSON: want an object {"record": BASE64}`},
		{"null", "POST", "/v1/records", `null`, 400, `missing field "record"`},
		{"unknown field", "POST", "/v1/records", `{"record": "` + b64 + `", "name": "alice"}`, 400, `unknown field "name"`},
		{"field in capitals", "POST", "/v1/records", `{"RECORD": "` + b64 + `"}`, 400, `unknown field "RECORD"`},
		{"trailing object", "POST", "/v1/records", body("record", valid) + "{}", 400, "data after the object"},
		{"trailing garbage", "POST", "/v1/records", body("record", valid) + " x", 400, "malformed JSON"},
		{"missing field", "POST", "/v1/records", `{}`, 400, `missing field "record"`},
		{"not a string", "POST", "/v1/records", `{"record": 5}`, 400, `field "record" must be a string`},
		{"null field", "POST", "/v1/records", `{"record": null}`, 400, `field "record" must be a string`},
		{"URL base64", "POST", "/v1/records", `{"record": "` + base64.URLEncoding.EncodeToString(valid) + `"}`, 400, "not standard base64"},
		{"unpadded base64", "POST", "/v1/records", `{"record": "` + base64.RawStdEncoding.EncodeToString(valid) + `"}`, 400, "not standard base64"},
		{"not a record", "POST", "/v1/records", body("record", []byte("hello")), 400, "invalid"},
		{"a tombstone as a record", "POST", "/v1/records", body("record", alice.tombstone(t, 9)), 400, "invalid"},
		{"bad signature", "POST", "/v1/records", body("record", forged), 400, "invalid"},
		{"expired", "POST", "/v1/records", body("record", expired), 400, "expired"},
		{"valid too long", "POST", "/v1/records", body("record", tooLong), 400, "longer than"},
		{"issued in the future", "POST", "/v1/records", body("record", future), 400, "future"},
		{"reserved name", "POST", "/v1/records", body("record", reserved), 400, "reserved"},
		{"stale", "POST", "/v1/records", body("record", stale), 409, "sequence number"},
		{"same sequence number", "POST", "/v1/records", body("record", sameSeq), 409, "sequence number"},
		{"name taken", "POST", "/v1/records", body("record", squat), 409, "held by another key"},
		{"over the size limit", "POST", "/v1/records", big, 413, "over the limit of 16384 bytes"},
		{"wrong method for publish", "PUT", "/v1/records", body("record", valid), 405, "method not allowed"},
		{"wrong method for look-up", "DELETE", "/v1/records/name/alice", "", 405, "method not allowed"},
		{"wrong method for remove", "GET", "/v1/remove", "", 405, "method not allowed"},
		{"stale tombstone", "POST", "/v1/remove", body("tombstone", alice.tombstone(t, 5)), 409, "sequence number"},
		{"tombstone as a record", "POST", "/v1/remove", body("tombstone", valid), 400, "invalid"},
		{"tombstone of another name", "POST", "/v1/remove", body("tombstone", func() []byte {
			s, _ := wire.SignTombstone(alice.id.Signer(), &wire.Tombstone{Name: "bob", Identity: alice.id.Public().Bytes(), Seq: 9, Issued: start.UnixMilli()})
			return s
		}()), 400, "invalid"},
		{"tombstone of an unknown key", "POST", "/v1/remove", body("tombstone", newUser(t, "x").tombstone(t, 9)), 404, "not found"},
		{"tombstone over the size limit", "POST", "/v1/remove", `{"tombstone": "` + strings.Repeat("A", MaxBody) + `"}`, 413, "over the limit"},
		{"record field to remove", "POST", "/v1/remove", body("record", alice.tombstone(t, 9)), 400, `unknown field "record"`},
	} {
		w := e.do(tt.method, tt.path, tt.body)
		check(t, tt.what, w, tt.status, "")
		msg := errorMessage(w)
		if !strings.Contains(msg, tt.message) || msg != strings.ToLower(msg[:1])+msg[1:] ||
			strings.HasSuffix(msg, ".") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one lowercase line containing %q", tt.what, msg, tt.message)
		}
		check(t, tt.what+", then the look-up", e.do("GET", "/v1/records/name/alice", ""), 200, recordJSON(rec))
		if row, err := e.store.RowByKey(context.Background(), alice.id.Public().Bytes()); err != nil || row.Seq != 5 || !bytes.Equal(row.Record, rec) {
			t.Errorf("%s changed the stored row (seq %d), %v", tt.what, row.Seq, err)
		}
	}
	w := e.do("PUT", "/v1/records", "")
	if allow := w.Header().Get("Allow"); allow != "POST" {
		t.Errorf("405 of publish: Allow %q", allow)
	}
	w = e.do("POST", "/v1/records/key/"+alice.key(), "")
	if allow := w.Header().Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("405 of look-up: Allow %q", allow)
	}
}

// TestNotFoundIsIdentical checks that every way of not finding a record
// gives the same answer, byte for byte.
func TestNotFoundIsIdentical(t *testing.T) {
	e := newEnv(t, Options{})
	expiring, removed, live := newUser(t, "carol"), newUser(t, "dave"), newUser(t, "erin")
	short := expiring.record(t, start, func(r *wire.Record) { r.Expires = start.Add(time.Hour).UnixMilli() })
	for _, rec := range [][]byte{short, removed.record(t, start), live.record(t, start)} {
		check(t, "publish", e.do("POST", "/v1/records", body("record", rec)), 200, "")
	}
	check(t, "remove", e.do("POST", "/v1/remove", body("tombstone", removed.tombstone(t, 2))), 200, `{"removed": true}`)
	check(t, "live", e.do("GET", "/v1/records/name/erin", ""), 200, "")
	e.now = start.Add(2 * time.Hour)

	unknown := newUser(t, "frank")
	device, err := identity.Generate(identity.KindDevice, start)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"/v1/records/name/frank",                      // unknown name
		"/v1/records/key/" + unknown.key(),            // unknown key
		"/v1/records/name/carol",                      // expired
		"/v1/records/key/" + expiring.key(),           // expired, by key
		"/v1/records/name/dave",                       // removed
		"/v1/records/key/" + removed.key(),            // removed, by key
		"/v1/records/name/x",                          // an impossible name
		"/v1/records/name/admin",                      // reserved
		"/v1/records/key/smvs1notakey",                // an impossible key
		"/v1/records/key/" + device.Public().String(), // a device key
		"/v1/records/key/" + strings.ToUpper(live.key()),
		"/v1/records/name/",
		"/v1/records/name/erin/",
		"/v1/nothing",
		"/",
	}
	want := e.do("GET", paths[0], "")
	check(t, paths[0], want, 404, `{"error": "not found"}`)
	for _, path := range paths[1:] {
		got := e.do("GET", path, "")
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || fmt.Sprint(got.Header()) != fmt.Sprint(want.Header()) {
			t.Errorf("%s: %d %v %q; unknown name: %d %v %q", path, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}

	// The names of an expired or removed record are free again.
	e.now = start.Add(3 * time.Hour)
	for _, name := range []string{"carol", "dave"} {
		check(t, "take "+name, e.do("POST", "/v1/records", body("record", newUser(t, name).record(t, e.now))), 200, "")
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, Options{})
	alice := newUser(t, "alice")
	rec := alice.record(t, start)
	check(t, "publish", e.do("POST", "/v1/records", body("record", rec)), 200, "")
	check(t, "remove", e.do("POST", "/v1/remove", body("tombstone", alice.tombstone(t, 2))), 200, `{"removed": true}`)
	check(t, "look-up", e.do("GET", "/v1/records/name/alice", ""), 404, `{"error": "not found"}`)
	check(t, "remove again", e.do("POST", "/v1/remove", body("tombstone", alice.tombstone(t, 3))), 404, `{"error": "not found"}`)
	// The old record can't be replayed.
	check(t, "replay", e.do("POST", "/v1/records", body("record", rec)), 409, "")
	check(t, "look-up after the replay", e.do("GET", "/v1/records/key/"+alice.key(), ""), 404, "")
}

// faultyStore is a store that fails on demand.
type faultyStore struct {
	directory.Store
	err     error // returned by Update, RowByName and RowByKey
	pingErr error
}

func (s *faultyStore) Update(ctx context.Context, fn func(directory.Tx) error) error {
	if s.err != nil {
		return s.err
	}
	return s.Store.Update(ctx, fn)
}

func (s *faultyStore) RowByName(ctx context.Context, name string) (*directory.Row, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.RowByName(ctx, name)
}

func (s *faultyStore) RowByKey(ctx context.Context, key []byte) (*directory.Row, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.RowByKey(ctx, key)
}

func (s *faultyStore) Ping(ctx context.Context) error {
	if s.pingErr != nil {
		return s.pingErr
	}
	return s.Store.Ping(ctx)
}

func TestStoreFailures(t *testing.T) {
	e := newEnv(t, Options{})
	alice := newUser(t, "alice")
	rec := alice.record(t, start)
	keyHex := hex.EncodeToString(alice.id.Public().Bytes())
	publish := request{"POST", "/v1/records", body("record", rec)}
	remove := request{"POST", "/v1/remove", body("tombstone", alice.tombstone(t, 2))}
	byName := request{"GET", "/v1/records/name/Alice", ""}
	byKey := request{"GET", "/v1/records/key/" + alice.key(), ""}
	const busy, failed = "the directory is busy; try again", "the directory's store failed; nothing was changed"
	for _, tt := range []struct {
		err      error
		requests []request
		status   int
		message  string
	}{
		{fmt.Errorf("%w: sqlitestore: committing: database is locked", directory.ErrConflict),
			[]request{publish, remove, byName, byKey}, 503, busy},
		{fmt.Errorf("looking up: %w", context.DeadlineExceeded), []request{publish, remove, byName, byKey}, 503, busy},
		// Stores' errors name the key or name they were working on.
		{fmt.Errorf("sqlitestore: storing key %s in /var/lib/x.db: disk I/O error", keyHex),
			[]request{publish, remove, byName, byKey}, 500, failed},
		{fmt.Errorf("pgstore: looking up name %q: connection reset", "alice"), []request{publish, byName}, 500, failed},
	} {
		e.store.err = tt.err
		e.log.Reset()
		for _, req := range tt.requests {
			w := e.do(req.method, req.path, req.body)
			check(t, req.path, w, tt.status, fmt.Sprintf(`{"error": %q}`, tt.message))
			if ra := w.Header().Get("Retry-After"); tt.status == 503 && ra != "1" {
				t.Errorf("%s: Retry-After %q, want 1", req.path, ra)
			}
		}
		log := e.log.String()
		if !strings.Contains(log, "store") || strings.Contains(log, "alice") || strings.Contains(log, keyHex) {
			t.Errorf("%v: the log should tell of the failure without the name or key:\n%s", tt.err, log)
		}
	}
	e.store.err = nil
	check(t, "publish after the failures", e.do("POST", "/v1/records", body("record", rec)), 200, "")
}

type request struct{ method, path, body string }

func TestHealth(t *testing.T) {
	e := newEnv(t, Options{})
	check(t, "healthy", e.do("GET", "/healthz", ""), 200, `{"status": "ok"}`)
	e.store.pingErr = errors.New("connection refused")
	check(t, "unhealthy", e.do("GET", "/healthz", ""), 503, `{"status": "unavailable"}`)
	if !strings.Contains(e.log.String(), "connection refused") {
		t.Errorf("the failure is not logged:\n%s", e.log.String())
	}
	check(t, "wrong method", e.do("POST", "/healthz", ""), 405, "")
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Options{Rate: 0.001, Burst: 3, ClientIPHeader: "X-Forwarded-For"})
	for range 3 {
		check(t, "within the burst", e.do("GET", "/healthz", ""), 200, "")
	}
	w := e.do("GET", "/healthz", "")
	check(t, "over the burst", w, 429, `{"error": "too many requests"}`)
	// One token comes every 1000 s.
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 999 || ra > 1000 {
		t.Errorf("Retry-After %q, want about 1000", w.Header().Get("Retry-After"))
	}
	w = e.do("POST", "/v1/records", "{}")
	check(t, "publish over the limit", w, 429, "")

	// Another client, as the trusted proxy says.
	check(t, "another client", e.do("GET", "/healthz", "", "X-Forwarded-For", "198.51.100.7, 203.0.113.9"), 200, "")
	for range 2 {
		e.do("GET", "/healthz", "", "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	}
	check(t, "another client over the burst", e.do("GET", "/healthz", "", "X-Forwarded-For", "203.0.113.9"), 429, "")
	check(t, "a third", e.do("GET", "/healthz", "", "X-Forwarded-For", "2001:db8::1"), 200, "")
	for range 2 {
		e.do("GET", "/healthz", "", "X-Forwarded-For", "2001:db8::2")
	}
	check(t, "the same /64", e.do("GET", "/healthz", "", "X-Forwarded-For", "[2001:db8::3]:443"), 429, "")
	check(t, "another /64", e.do("GET", "/healthz", "", "X-Forwarded-For", "2001:db8:0:1::3"), 200, "")

	// Without the option, the header is only a header.
	e = newEnv(t, Options{Rate: 0.001, Burst: 1})
	check(t, "first", e.do("GET", "/healthz", ""), 200, "")
	check(t, "spoofed header", e.do("GET", "/healthz", "", "X-Forwarded-For", "198.51.100.7"), 429, "")

	// Rate 0: no limit.
	e = newEnv(t, Options{})
	for range 100 {
		if w := e.do("GET", "/healthz", ""); w.Code != 200 {
			t.Fatalf("no limit: status %d", w.Code)
		}
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t, Options{})
	alice := newUser(t, "alice")
	keyHex := hex.EncodeToString(alice.id.Public().Bytes())
	rec := alice.record(t, start)
	e.do("POST", "/v1/records", body("record", rec))
	e.do("POST", "/v1/records", body("record", rec))
	e.do("GET", "/v1/records/name/alice", "")
	e.do("GET", "/v1/records/key/"+alice.key(), "")
	e.do("POST", "/v1/remove", body("tombstone", alice.tombstone(t, 2)))
	log := e.log.String()
	for _, want := range []string{"msg=publish outcome=stored", "msg=publish outcome=stale", "msg=remove outcome=removed"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	for _, private := range []string{"alice", alice.key(), keyHex, "192.0.2.1", "/v1/records/"} {
		if strings.Contains(log, private) {
			t.Errorf("the log holds %q:\n%s", private, log)
		}
	}

	e = newEnv(t, Options{AccessLog: true})
	e.do("GET", "/v1/records/name/alice", "")
	if log := e.log.String(); !strings.Contains(log, "msg=access client=192.0.2.1 method=GET path=/v1/records/name/alice status=404") {
		t.Errorf("access log:\n%s", log)
	}
}
