package blob

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"smvs/lib/wire"
)

func seal(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key)
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, so chunks fill across calls.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7777)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(len(plain)) {
		t.Fatalf("Size %d, want %d", w.Size(), len(plain))
	}
	return out.Bytes()
}

// sealFrom seals plain through ReadFrom, read a byte at a time and then in
// odd-sized pieces, so that chunks fill across reads.
func sealFrom(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key)
	if err != nil {
		t.Fatal(err)
	}
	half := len(plain) / 2
	for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(plain[:half])), iotest.HalfReader(bytes.NewReader(plain[half:]))} {
		if _, err := w.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func open(key, sealed []byte, size int64) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), key, size)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func newKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func TestRoundTrip(t *testing.T) {
	key := newKey()
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17, 4 * ChunkSize} {
		plain := make([]byte, size)
		rand.Read(plain)
		sealed := seal(t, key, plain)
		if int64(len(sealed)) != SealedSize(int64(size)) {
			t.Errorf("size %d: sealed %d bytes, want %d", size, len(sealed), SealedSize(int64(size)))
		}
		got, err := open(key, sealed, int64(size))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("size %d: opened %d bytes, err %v", size, len(got), err)
		}
		if !bytes.Equal(sealFrom(t, key, plain), sealed) {
			t.Errorf("size %d: ReadFrom sealed other bytes than Write", size)
		}
	}
}

// ReadFrom returns the reader's error, and what it read before it is sealed.
func TestReadFromError(t *testing.T) {
	key, plain := newKey(), make([]byte, ChunkSize+5)
	broken := errors.New("broken")
	var out bytes.Buffer
	w, _ := NewWriter(&out, key)
	n, err := w.ReadFrom(io.MultiReader(bytes.NewReader(plain), iotest.ErrReader(broken)))
	if n != int64(len(plain)) || !errors.Is(err, broken) || w.Size() != n {
		t.Fatalf("ReadFrom: %d bytes, %v, Size %d; want %d, %v", n, err, w.Size(), len(plain), broken)
	}
}

// TestRejects: every way a sealed body can be wrong is refused, with an
// error a caller can tell apart.
func TestRejects(t *testing.T) {
	key := newKey()
	plain := make([]byte, 3*ChunkSize+100)
	rand.Read(plain)
	sealed := seal(t, key, plain)
	chunk := func(i int) []byte { return sealed[i*SealedChunkSize : (i+1)*SealedChunkSize] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := seal(t, newKey(), plain)
	flipped := bytes.Clone(sealed)
	flipped[SealedChunkSize+5] ^= 1
	size := int64(len(plain))
	for name, tt := range map[string]struct {
		sealed []byte
		size   int64
		want   error
	}{
		"reordered":         {join(chunk(1), chunk(0), chunk(2), chunk(3)), size, ErrTampered},
		"dropped":           {join(chunk(0), chunk(2), chunk(3)), size, ErrTampered},
		"dropped last":      {join(chunk(0), chunk(1), chunk(2)), size, wire.ErrTruncated},
		"duplicated":        {join(chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)), size, ErrTampered},
		"altered":           {flipped, size, ErrTampered},
		"truncated":         {sealed[:len(sealed)-1], size, wire.ErrTruncated},
		"cut at a chunk":    {join(chunk(0), chunk(1)), 4 * ChunkSize, wire.ErrTruncated},
		"extended":          {append(bytes.Clone(sealed), 0), size, wire.ErrTrailingData},
		"extra chunk":       {join(sealed, chunk(3)), size, wire.ErrTrailingData},
		"another message":   {join(chunk(0), other[SealedChunkSize:2*SealedChunkSize], chunk(2), chunk(3)), size, ErrTampered},
		"shorter size":      {sealed, 3 * ChunkSize, ErrTampered}, // chunk 3 is not the last
		"longer size":       {sealed, 4*ChunkSize + 1, ErrTampered},
		"size in padding":   {sealed, size - 1, wire.ErrMalformed},
		"empty":             {nil, size, wire.ErrTruncated},
		"last chunk, early": {join(chunk(3)), ChunkSize, ErrTampered},
	} {
		got, err := open(key, tt.sealed, tt.size)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %d bytes, err %v, want %v", name, len(got), err, tt.want)
		}
	}
}

func TestBadKey(t *testing.T) {
	if _, err := NewWriter(io.Discard, make([]byte, 16)); err == nil {
		t.Error("NewWriter took a 16-byte key")
	}
	if _, err := NewReader(bytes.NewReader(nil), newKey(), -1); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("NewReader took size -1: %v", err)
	}
}

// bodyHash is NewHash of body.bin, as PROTOCOL 23.4 gives it.
const bodyHash = "d76c74ffc729115e8f1c5684ef2ed7e07d39b971c2090fb92e9fb6fd3ec2186f"

// TestVector checks testdata/vectors/body.bin: a body of 2 chunks + 5
// bytes, each byte its offset mod 251, sealed under key 0x00..0x1f (section
// 23.4). -update rewrites it.
func TestVector(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	plain := make([]byte, 2*ChunkSize+5)
	for i := range plain {
		plain[i] = byte(i % 251)
	}
	path := filepath.Join("..", "..", "testdata", "vectors", "body.bin")
	sealed := seal(t, key, plain)
	if *update {
		if err := os.WriteFile(path, sealed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, want) {
		t.Fatalf("%s differs from what the writer makes now", path)
	}
	got, err := open(key, want, int64(len(plain)))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("vector does not open: %v", err)
	}
	h := NewHash()
	h.Write(want)
	direct := sha256.Sum256(append([]byte("smvs/1 body\x00"), want...))
	if sum := hex.EncodeToString(h.Sum(nil)); sum != bodyHash || sum != hex.EncodeToString(direct[:]) {
		t.Fatalf("body.bin hash %s, want %s: SHA-256 over the context, a zero byte and the sealed body", sum, bodyHash)
	}
}

func FuzzReader(f *testing.F) {
	key := make([]byte, KeySize)
	f.Add(seal(f, key, []byte("hello")), int64(5))
	f.Add(seal(f, key, make([]byte, ChunkSize+1)), int64(ChunkSize+1))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, sealed []byte, size int64) {
		if size > 1<<24 {
			size %= 1 << 24
		}
		r, err := NewReader(bytes.NewReader(sealed), key, size)
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if err != nil {
			return
		}
		// Whatever opens must be what the writer makes of it.
		if int64(len(got)) != size || !bytes.Equal(seal(t, key, got), sealed) {
			t.Fatalf("opened %d bytes of a %d-byte body that does not re-seal to the input", len(got), size)
		}
	})
}
