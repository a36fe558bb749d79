package call

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"smvs/lib/media"
)

// The codecs a call can receive; a sender offers these too, so the peer
// may send any of them whatever this side sends.
var (
	videoCodecs = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, PayloadType: 98},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2"}, PayloadType: 100},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"}, PayloadType: 104},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"}, PayloadType: 106},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"}, PayloadType: 108},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, PayloadType: 45},
	}
	opusCodec = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
)

// sendCapability is the codec a track of c is sent with.
func sendCapability(c media.Codec) (webrtc.RTPCodecCapability, error) {
	mime := c.MimeType()
	if mime == webrtc.MimeTypeOpus {
		return opusCodec.RTPCodecCapability, nil
	}
	for _, p := range videoCodecs {
		if p.MimeType == mime {
			return p.RTPCodecCapability, nil
		}
	}
	return webrtc.RTPCodecCapability{}, fmt.Errorf("%w: codec %q cannot be sent in a call", ErrMedia, string(c))
}

func (c *Call) newPeerConnection() (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	for _, p := range videoCodecs {
		if err := m.RegisterCodec(p, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	logs := pionLogs{c.log}
	// NACK, RTCP reports, the stats behind the stats line and TWCC.
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, reg, webrtc.WithInterceptorLoggerFactory(logs)); err != nil {
		return nil, err
	}

	s := webrtc.SettingEngine{LoggerFactory: logs}
	// mDNS would hide host addresses behind .local names only browsers
	// need, and costs set-up time.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if c.cfg.NetworkTypes != nil {
		s.SetNetworkTypes(c.cfg.NetworkTypes)
	}
	if c.cfg.InterfaceFilter != nil {
		s.SetInterfaceFilter(c.cfg.InterfaceFilter)
	}
	if c.cfg.IPFilter != nil {
		s.SetIPFilter(c.cfg.IPFilter)
	}
	s.SetIncludeLoopbackCandidate(c.cfg.IncludeLoopback)
	if c.cfg.PortMin != 0 || c.cfg.PortMax != 0 {
		if err := s.SetEphemeralUDPPortRange(c.cfg.PortMin, c.cfg.PortMax); err != nil {
			return nil, err
		}
	}
	if len(c.cfg.NAT1To1IPs) > 0 {
		rule := webrtc.ICEAddressRewriteRule{External: c.cfg.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost}
		if err := s.SetICEAddressRewriteRules(rule); err != nil {
			return nil, err
		}
	}
	disconnected := min(5*time.Second, c.cfg.DisconnectTimeout/2)
	s.SetICETimeouts(disconnected, c.cfg.DisconnectTimeout-disconnected, time.Second)
	if c.cfg.RelayOnly {
		// Relay candidates are all there is: no better pair to wait for.
		s.SetRelayAcceptanceMinWait(0)
	}

	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	conf := webrtc.Configuration{ICEServers: c.cfg.ICEServers}
	if c.cfg.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(c.localCandidate)
	pc.OnTrack(c.onTrack)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("connection", "state", s)
		if s == webrtc.PeerConnectionStateFailed {
			go c.transportFailed()
		}
	})
	// The handler runs under the DTLS transport's lock: hand off.
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		c.log.Debug("dtls", "state", s)
		switch s {
		case webrtc.DTLSTransportStateConnected:
			go c.checkFingerprint()
		case webrtc.DTLSTransportStateFailed:
			go c.transportFailed()
		}
	})
	return pc, nil
}

// direction is what a call wants for one kind of media.
func direction(send, receive bool) webrtc.RTPTransceiverDirection {
	switch {
	case send && receive:
		return webrtc.RTPTransceiverDirectionSendrecv
	case send:
		return webrtc.RTPTransceiverDirectionSendonly
	case receive:
		return webrtc.RTPTransceiverDirectionRecvonly
	}
	return webrtc.RTPTransceiverDirectionInactive
}

// addTransceivers adds one transceiver per kind of media this side sends
// or receives, with the direction it wants; a kind it does neither with
// gets none.
func (c *Call) addTransceivers() error {
	kinds := []struct {
		kind webrtc.RTPCodecType
		in   media.Reader
		out  bool
		name string
	}{
		{webrtc.RTPCodecTypeVideo, c.cfg.Video, c.cfg.VideoOut != nil, "video"},
		{webrtc.RTPCodecTypeAudio, c.cfg.Audio, c.cfg.AudioOut != nil, "audio"},
	}
	for _, k := range kinds {
		send := k.in != nil
		dir := direction(send, k.out)
		if dir == webrtc.RTPTransceiverDirectionInactive {
			continue
		}
		init := webrtc.RTPTransceiverInit{Direction: dir}
		if !send {
			if _, err := c.pc.AddTransceiverFromKind(k.kind, init); err != nil {
				return fmt.Errorf("call: %s transceiver: %w", k.name, err)
			}
			continue
		}
		capability, err := sendCapability(k.in.Codec())
		if err != nil {
			return fmt.Errorf("%s input: %w", k.name, err)
		}
		if want := kindOf(k.in.Codec()); want != k.kind {
			return fmt.Errorf("%w: the %s input is %s", ErrMedia, k.name, k.in.Codec())
		}
		track, err := webrtc.NewTrackLocalStaticSample(capability, k.name, "smvs")
		if err != nil {
			return fmt.Errorf("call: %s track: %w", k.name, err)
		}
		tr, err := c.pc.AddTransceiverFromTrack(track, init)
		if err != nil {
			return fmt.Errorf("call: %s transceiver: %w", k.name, err)
		}
		c.senders = append(c.senders, sender{name: k.name, in: k.in, track: track, rtp: tr.Sender()})
	}
	return nil
}

func kindOf(codec media.Codec) webrtc.RTPCodecType {
	if codec.MimeType() == webrtc.MimeTypeOpus {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// pionLogs sends pion's logs to the call's logger. Pion's own default
// writes to the terminal, and stdout carries media.
type pionLogs struct{ log *slog.Logger }

func (l pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{l.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)                   {}
func (l pionLogger) Tracef(string, ...any)          {}
func (l pionLogger) Debug(msg string)               { l.log.Debug(msg) }
func (l pionLogger) Debugf(format string, a ...any) { l.logf(slog.LevelDebug, format, a) }
func (l pionLogger) Info(msg string)                { l.log.Debug(msg) }
func (l pionLogger) Infof(format string, a ...any)  { l.logf(slog.LevelDebug, format, a) }
func (l pionLogger) Warn(msg string)                { l.log.Debug(msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.logf(slog.LevelDebug, format, a) }
func (l pionLogger) Error(msg string)               { l.log.Warn(msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.logf(slog.LevelWarn, format, a) }

func (l pionLogger) logf(level slog.Level, format string, a []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, a...))
	}
}
