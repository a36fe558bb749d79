package main

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/pion/webrtc/v4"
	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"smvs/lib/call"
	"smvs/lib/capture"
	"smvs/lib/cli"
	"smvs/lib/media"
)

// inputs are what a call sends.
type inputs struct {
	video, audio media.Reader
	closers      []func()
}

func (in *inputs) close() {
	for _, c := range in.closers {
		c()
	}
}

// sendsStdin reports whether the call reads its video from standard input.
func sendsStdin(o *options) bool { return !o.receiveOnly && !o.camera }

// openInputs opens the video and audio to send, reading their headers.
func (s *session) openInputs() (*inputs, error) {
	o, in := s.o, &inputs{}
	if o.camera || o.mic {
		video, audio, stop, err := capture.Open(s.ctx, capture.Options{Camera: o.camera, Mic: o.mic})
		if err != nil {
			return nil, captureErr(err)
		}
		// A camera and a microphone pace themselves.
		if video != nil {
			video = call.Live(video)
		}
		if audio != nil {
			audio = call.Live(audio)
		}
		in.video, in.audio = video, audio
		in.closers = append(in.closers, stop)
	}
	if sendsStdin(o) {
		r, err := media.OpenVideo(s.io.stdin, o.format, o.fps)
		if err != nil {
			in.close()
			return nil, cli.Errorf("standard input: %w", err).
				WithHintf("smvs-call reads IVF (VP8, VP9, AV1) or H.264 Annex-B, as ffmpeg writes with -f ivf - or -f h264 -")
		}
		in.video = r
		if o.live {
			in.video = call.Live(r)
		}
	}
	if o.audioIn != "" {
		f, err := os.Open(o.audioIn)
		if err != nil {
			in.close()
			return nil, cli.Errorf("--audio-in: %w", err)
		}
		in.closers = append(in.closers, func() { f.Close() })
		r, err := media.OpenAudio(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			in.close()
			return nil, cli.Errorf("--audio-in %s: %w", o.audioIn, err).
				WithHintf("smvs-call reads Ogg/Opus audio, as ffmpeg writes with -c:a libopus -f ogg")
		}
		in.audio = r
		if o.live {
			in.audio = call.Live(r)
		}
	}
	return in, nil
}

func captureAvailable() bool { return capture.Available() }

func captureError() error { return captureErr(capture.ErrNotBuiltIn) }

func captureErr(err error) error {
	if errors.Is(err, capture.ErrNotBuiltIn) {
		return cli.Errorf("--camera and --mic: %w", err)
	}
	return cli.Errorf("%w", err)
}

// config is the call's configuration: what it sends and receives, and
// how it connects.
func (s *session) config(in *inputs) (call.Config, error) {
	o := s.o
	cfg := call.Config{
		Video:          in.video,
		Audio:          in.audio,
		RelayOnly:      o.relayOnly,
		IgnorePeerSTUN: o.noPeerSTUN,
		RingTimeout:    o.ringTimeout,
		Log:            s.log,
	}
	if !o.sendOnly {
		stdout := s.io.stdout
		cfg.VideoOut = func(c media.Codec) (media.Writer, error) { return media.CreateVideo(stdout, c) }
	}
	if o.audioOut != "" {
		path := o.audioOut
		// Opened when the peer's audio arrives, so a call that never
		// gets that far leaves no file.
		cfg.AudioOut = func(media.Codec) (media.Writer, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return nil, err
			}
			w, err := media.CreateAudio(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			return &fileWriter{Writer: w, f: f}, nil
		}
	}
	if o.stats {
		cfg.Stats = &prefixed{w: s.io.stderr}
	}
	if len(o.stun) > 0 {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: o.stun})
	}
	if len(o.turn) > 0 {
		user, pass, err := turnCredentials(s.c, o)
		if err != nil {
			return cfg, err
		}
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: o.turn, Username: user, Credential: pass})
	}
	if len(o.local) > 0 {
		v4, v6 := false, false
		for _, ip := range o.local {
			cfg.IncludeLoopback = cfg.IncludeLoopback || ip.IsLoopback()
			if ip.To4() != nil {
				v4 = true
			} else {
				v6 = true
			}
		}
		if v4 {
			cfg.NetworkTypes = append(cfg.NetworkTypes, webrtc.NetworkTypeUDP4)
		}
		if v6 {
			cfg.NetworkTypes = append(cfg.NetworkTypes, webrtc.NetworkTypeUDP6)
		}
		local := o.local
		cfg.IPFilter = func(ip net.IP) bool {
			for _, l := range local {
				if l.Equal(ip) {
					return true
				}
			}
			return false
		}
	}
	return cfg, nil
}

// fileWriter is a media Writer that closes its file after the container.
type fileWriter struct {
	media.Writer
	f *os.File
}

func (w *fileWriter) Close() error {
	err := w.Writer.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxCredentials bounds the TURN credentials file.
const maxCredentials = 4 << 10

// turnCredentials returns the TURN user and password: from
// --turn-credentials, a file only its owner may read, else from the
// environment.
func turnCredentials(c *urfave.Context, o *options) (user, pass string, err error) {
	if o.turnFile == "" {
		user, pass = os.Getenv(envTURNUser), os.Getenv(envTURNPassword)
		if user == "" || pass == "" {
			return "", "", cli.UsageErrorf(c, "a TURN server needs a user and a password: give --turn-credentials FILE, or set %s and %s", envTURNUser, envTURNPassword)
		}
		return user, pass, nil
	}
	f, err := os.Open(o.turnFile)
	if err != nil {
		return "", "", cli.Errorf("--turn-credentials: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", "", cli.Errorf("--turn-credentials: %w", err)
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return "", "", cli.Errorf("%s is readable by others (mode %04o); refusing to use the TURN password in it", o.turnFile, perm).
			WithHintf("chmod 600 %s", o.turnFile)
	}
	if !info.Mode().IsRegular() {
		return "", "", cli.Errorf("--turn-credentials %s: %w", o.turnFile, fs.ErrInvalid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredentials+1))
	if err != nil {
		return "", "", cli.Errorf("--turn-credentials: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	user, pass, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
	if len(data) > maxCredentials || !ok || user == "" || pass == "" {
		return "", "", cli.Errorf("%s does not hold the TURN credentials as USER:PASSWORD on its first line", o.turnFile)
	}
	return user, pass, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
