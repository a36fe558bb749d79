package host

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// TestRollbackRefused: the host resolves through contacts.Resolver, so a
// directory serving a contact's record with a lower sequence number than
// the contacts file's seq= is refused: the message is not taken, the
// device is told why, and the contacts file is left as it was.
func TestRollbackRefused(t *testing.T) {
	bob := newUser(t, "bob")
	now := time.Now()
	kem, err := bob.id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	old, err := wire.SignRecord(bob.id.Signer(), &wire.Record{
		Name: "bob", Identity: bob.key().Bytes(), KEM: kem.Public(), Host: "127.0.0.1:9",
		Seq: 3, Issued: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A directory that serves bob's old record for every look-up, and
	// takes no records.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"read only"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"record": base64.StdEncoding.EncodeToString(old)})
	}))
	t.Cleanup(srv.Close)
	dir, err := dirclient.New(srv.URL, tlspin.Pin(srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	alice := newUser(t, "alice", dir)
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Seq: 5})
	before, err := os.ReadFile(contacts.Path(alice.home))
	if err != nil {
		t.Fatal(err)
	}
	alice.start()
	for _, to := range []string{"bob", bob.key().String()} {
		_, err := submit(alice.device(), to, "hello")
		var apiErr *hostapi.Error
		if !errors.As(err, &apiErr) || apiErr.Code != hostapi.ErrUnknownRecipient ||
			!strings.Contains(apiErr.Message, "directory "+srv.URL+": bob's record went back from sequence 5 to 3: refusing it") {
			t.Errorf("submit to %s: %v, want a refusal naming the rollback", to, err)
		}
	}
	if after, err := os.ReadFile(contacts.Path(alice.home)); err != nil || string(after) != string(before) {
		t.Errorf("the contacts file changed: %q, %v", after, err)
	}
	if ms := alice.messages(); len(ms) != 0 {
		t.Errorf("%d messages stored", len(ms))
	}
}
