// Package metrics serves a daemon's Prometheus metrics over HTTP, when
// its operator asks for them (--metrics ADDR). The daemons register their
// own counters and gauges on the Registry it makes; it adds the Go
// runtime's and the process's. Nothing here labels a series with a key,
// a name or an address: who talks to whom is not an operator's business,
// and a label's values must stay few.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served; every other path is 404.
const Path = "/metrics"

// NewRegistry returns a registry with the Go runtime's and the process's
// collectors on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves a registry's metrics until it is closed.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve starts serving reg's metrics on TCP addr, host:port (see
// cli.MetricsAddr), logging to log what fails after it started.
func Serve(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	s := &Server{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "err", err)
		}
	}()
	return s, nil
}

// Start makes a registry (NewRegistry) and serves it on addr, logging
// where: what a daemon's --metrics does. The daemon registers its own
// metrics on the registry.
func Start(addr string, log *slog.Logger) (*prometheus.Registry, *Server, error) {
	reg := NewRegistry()
	s, err := Serve(addr, reg, log)
	if err != nil {
		return nil, nil, err
	}
	log.Info("serving metrics", "addr", s.Addr().String())
	return reg, s, nil
}

// Addr is where s listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops s, waiting within ctx for scrapes under way.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
