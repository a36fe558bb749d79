package cli

import "fmt"

// HostNotRunning explains err, which wraps hostapi.ErrHostNotRunning, with
// a hint to start the host or point at its socket. The command sets the
// exit status it documents for this.
func HostNotRunning(err error) *Error {
	return Errorf("%w", err).
		WithHintf("start smvs-hostd, or point --socket (or %s) at the socket it listens on", SocketEnv)
}

// FormatSize formats n bytes for people: "512 B", "1.2 MiB".
func FormatSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
