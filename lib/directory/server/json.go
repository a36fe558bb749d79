package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// notFoundBody is the one answer for every name, key or path that is not
// there: unknown, expired and removed look exactly alike.
var notFoundBody = mustJSON(errorBody{"not found"})

type errorBody struct {
	Error string `json:"error"`
}

func notFound(w http.ResponseWriter) {
	writeBytes(w, http.StatusNotFound, notFoundBody)
}

// writeError answers with status and {"error": msg}, msg made one line.
func writeError(w http.ResponseWriter, status int, msg string) {
	msg = strings.TrimSuffix(strings.Join(strings.Fields(msg), " "), ".")
	writeJSON(w, status, errorBody{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBytes(w, status, mustJSON(v))
}

func writeBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// mustJSON encodes v, one of this package's bodies, which always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// readBody reads a request body that must be a JSON object with exactly one
// member, field, whose value is a string of standard base64, and returns
// what that decodes to. If the body is anything else, it answers the
// request (400, or 413 if it is over MaxBody) and returns false.
func readBody(w http.ResponseWriter, r *http.Request, field string) ([]byte, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	b, err := decodeBody(r.Body, field)
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", MaxBody))
		} else {
			writeError(w, http.StatusBadRequest, err.Error())
		}
		return nil, false
	}
	return b, true
}

func decodeBody(body io.Reader, field string) ([]byte, error) {
	dec := json.NewDecoder(body)
	// A map, not a struct: encoding/json would match a struct's field names
	// case-insensitively.
	var members map[string]json.RawMessage
	if err := dec.Decode(&members); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("malformed JSON: empty body, want {%q: BASE64}", field)
		}
		return nil, jsonError(err, field)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, jsonError(err, field)
		}
		return nil, errors.New("malformed JSON: data after the object")
	}
	for name := range members {
		if name != field {
			return nil, fmt.Errorf("unknown field %q", name)
		}
	}
	raw, ok := members[field]
	if !ok {
		return nil, fmt.Errorf("missing field %q", field)
	}
	var s string
	if string(raw) == "null" || json.Unmarshal(raw, &s) != nil {
		return nil, fmt.Errorf("field %q must be a string", field)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("field %q is not standard base64: %v", field, err)
	}
	return b, nil
}

// jsonError words a decoding error, passing a read error (such as
// http.MaxBytesError) through.
func jsonError(err error, field string) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		return fmt.Errorf("malformed JSON: want an object {%q: BASE64}", field)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return err
}
