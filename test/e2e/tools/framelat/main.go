// Command framelat measures what a video pipe adds to each frame's
// latency, for scripts/bench call: it feeds an IVF file into the pipe at
// the pace of its timestamps, reads the IVF that comes out at the other
// end, and matches the frames by content.
//
//	framelat feed IN.ivf LOG [START]  write IN.ivf to stdout: the header at once, then,
//	                                  once the file START exists (if given), each
//	                                  frame at its time; log each frame's write
//	framelat sink LOG                 read IVF on stdin; log each frame's arrival
//	framelat report FEEDLOG SINKLOG   print frames matched and latency percentiles
//
// A log line is "UNIXNANO SHA256-PREFIX". The clocks of both ends are the
// same machine's.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

const (
	ivfHeader   = 32
	frameHeader = 12
	maxFrame    = 16 << 20
)

func main() {
	var err error
	switch {
	case len(os.Args) >= 4 && len(os.Args) <= 5 && os.Args[1] == "feed":
		start := ""
		if len(os.Args) == 5 {
			start = os.Args[4]
		}
		err = feed(os.Args[2], os.Args[3], start)
	case len(os.Args) == 3 && os.Args[1] == "sink":
		err = sink(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "report":
		err = report(os.Args[2], os.Args[3])
	default:
		err = errors.New("usage: framelat feed IN.ivf LOG [START] | sink LOG | report FEEDLOG SINKLOG")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framelat:", err)
		os.Exit(1)
	}
}

type frame struct {
	pts  uint64
	data []byte
}

// readFrame reads one IVF frame.
func readFrame(r io.Reader) (frame, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > maxFrame {
		return frame{}, fmt.Errorf("a frame of %d bytes", n)
	}
	f := frame{pts: binary.LittleEndian.Uint64(h[4:]), data: make([]byte, n)}
	_, err := io.ReadFull(r, f.data)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return f, err
}

func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func feed(in, logPath, start string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	if len(data) < ivfHeader || string(data[:4]) != "DKIF" {
		return fmt.Errorf("%s is not IVF", in)
	}
	den, num := binary.LittleEndian.Uint32(data[16:]), binary.LittleEndian.Uint32(data[20:])
	if den == 0 || num == 0 {
		return fmt.Errorf("%s: no timebase", in)
	}
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	out := os.Stdout
	if _, err := out.Write(data[:ivfHeader]); err != nil {
		return err
	}
	if start != "" {
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := os.Stat(start); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not appear within a minute", start)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	r := bytes.NewReader(data[ivfHeader:])
	var t0 time.Time
	var pts0 uint64
	for i := 0; ; i++ {
		f, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if i == 0 {
			t0, pts0 = time.Now(), f.pts
		}
		due := t0.Add(time.Duration((f.pts - pts0) * uint64(time.Second) * uint64(num) / uint64(den)))
		time.Sleep(time.Until(due))
		var h [frameHeader]byte
		binary.LittleEndian.PutUint32(h[:4], uint32(len(f.data)))
		binary.LittleEndian.PutUint64(h[4:], f.pts)
		if _, err := out.Write(append(h[:], f.data...)); err != nil {
			return err
		}
		fmt.Fprintf(log, "%d %s\n", time.Now().UnixNano(), hash(f.data))
	}
}

func sink(logPath string) error {
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	r := bufio.NewReaderSize(os.Stdin, 1<<20)
	var h [ivfHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // nothing arrived: the report says so
		}
		return err
	}
	for {
		f, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "%d %s\n", time.Now().UnixNano(), hash(f.data))
	}
}

func readLog(path string) (map[string]int64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	at := make(map[string]int64)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var t int64
		var h string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s", &t, &h); err != nil {
			return nil, 0, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		if _, dup := at[h]; !dup { // a repeated frame counts from its first
			at[h] = t
		}
		n++
	}
	return at, n, sc.Err()
}

func report(feedLog, sinkLog string) error {
	fed, sent, err := readLog(feedLog)
	if err != nil {
		return err
	}
	got, _, err := readLog(sinkLog)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for h, t := range got {
		if f, ok := fed[h]; ok {
			lat = append(lat, time.Duration(t-f))
		}
	}
	if len(lat) == 0 {
		fmt.Printf("frames %d of %d\n", 0, sent)
		return nil
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Printf("frames %d of %d p50 %.2f p99 %.2f max %.2f\n", len(lat), sent,
		ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]))
	return nil
}
