package wire

import "fmt"

// SignalType says what a call signal is for.
type SignalType uint64

// The call signals. Offer, Answer, Candidate and Hangup travel between the
// two devices in a call; the others end a call before it begins, sent by
// the callee's device (Reject) or by the callee's host on its behalf (Busy,
// Unavailable). Taken only travels from a host to its own devices: another
// device of the user answered.
const (
	SignalOffer       SignalType = 1 // SDP holds the caller's offer
	SignalAnswer      SignalType = 2 // SDP holds the callee's answer
	SignalCandidate   SignalType = 3 // Candidate holds one trickled ICE candidate
	SignalHangup      SignalType = 4 // either side ends the call
	SignalReject      SignalType = 5 // the callee declined
	SignalBusy        SignalType = 6 // the callee is already in a call
	SignalUnavailable SignalType = 7 // no device of the callee is waiting for calls
	SignalRinging     SignalType = 8 // the callee's devices are ringing
	SignalTaken       SignalType = 9 // another device of the callee answered
)

var signalNames = map[SignalType]string{
	SignalOffer: "offer", SignalAnswer: "answer", SignalCandidate: "candidate", SignalHangup: "hangup",
	SignalReject: "reject", SignalBusy: "busy", SignalUnavailable: "unavailable", SignalRinging: "ringing",
	SignalTaken: "taken",
}

func (t SignalType) String() string {
	if s, ok := signalNames[t]; ok {
		return s
	}
	return fmt.Sprintf("signal(%d)", uint64(t))
}

// CallIDSize is the size of a call id, chosen at random by the caller.
const CallIDSize = 16

// MaxSignalText bounds an SDP, a candidate or a reason.
const MaxSignalText = 64 << 10

// DeviceSigned reports whether signals of type t come from a device and
// are signed by it (offer, answer, candidate, hangup, reject); the others
// are a host's word and carry no signature.
func (t SignalType) DeviceSigned() bool {
	return t >= SignalOffer && t <= SignalReject
}

// CarriesCert reports whether a device puts its certificate on signals of
// type t: every signed one but the many candidates, which come after the
// offer or answer that made the device key known.
func (t SignalType) CarriesCert() bool {
	return t.DeviceSigned() && t != SignalCandidate
}

// CallSignal is the body of a KindCall message, and what a device and its
// host exchange on a call stream. The hosts seal and sign it host to host;
// on top, a signal a device makes carries that device's signature (Sig,
// over the CallStatement) and, but for candidates, its certificate (Cert,
// a signed DeviceCert), so that no host on the way can change what
// decides the media path or the ending without the other device seeing
// it.
type CallSignal struct {
	V         uint64     `cbor:"0,keyasint"`
	CallID    []byte     `cbor:"1,keyasint"`
	Type      SignalType `cbor:"2,keyasint"`
	SDP       string     `cbor:"3,keyasint,omitempty"` // offer and answer
	Candidate string     `cbor:"4,keyasint,omitempty"` // JSON of a webrtc.ICECandidateInit
	Reason    string     `cbor:"5,keyasint,omitempty"` // why a call ended, for people
	Cert      []byte     `cbor:"6,keyasint,omitempty"` // the sending device's signed DeviceCert
	Sig       []byte     `cbor:"7,keyasint,omitempty"` // the sending device's signature
	// Tampered, on a signed hangup or reject, says the sending device
	// ended the call because a signal it got failed its own check, so the
	// other device can tell its user too. It is the peer device's word,
	// signed; unsigned, it means nothing.
	Tampered bool `cbor:"8,keyasint,omitempty"`
}

// Validate checks what a decoder can: a known type, a call id, and the
// field each type needs.
func (s *CallSignal) Validate() error {
	if _, ok := signalNames[s.Type]; !ok {
		return fmt.Errorf("%w: unknown call signal type %d", ErrMalformed, uint64(s.Type))
	}
	if err := checkSize("call id", s.CallID, CallIDSize); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"SDP", s.SDP}, {"candidate", s.Candidate}, {"reason", s.Reason}} {
		if len(f.v) > MaxSignalText {
			return fmt.Errorf("%w: call signal %s over %d bytes", ErrMalformed, f.name, MaxSignalText)
		}
	}
	switch {
	case (s.Type == SignalOffer || s.Type == SignalAnswer) && s.SDP == "":
		return fmt.Errorf("%w: call %s without SDP", ErrMalformed, s.Type)
	case s.Type == SignalCandidate && s.Candidate == "":
		return fmt.Errorf("%w: call candidate signal without a candidate", ErrMalformed)
	case len(s.Sig) > 0 && !s.Type.DeviceSigned():
		return fmt.Errorf("%w: a call %s signal is a host's and carries no device signature", ErrMalformed, s.Type)
	case len(s.Sig) > 0 && len(s.Sig) != SignatureSize:
		return fmt.Errorf("%w: call signal signature is %d bytes, want %d", ErrMalformed, len(s.Sig), SignatureSize)
	case len(s.Cert) > 0 && (len(s.Sig) == 0 || !s.Type.CarriesCert()):
		return fmt.Errorf("%w: a device certificate on an unsigned call signal, or on a %s", ErrMalformed, s.Type)
	case s.Tampered && s.Type != SignalHangup && s.Type != SignalReject:
		return fmt.Errorf("%w: a call %s can't report tampering", ErrMalformed, s.Type)
	case len(s.Cert) > MaxDeviceCertSize:
		return fmt.Errorf("%w: call signal device certificate is %d bytes, limit %d", ErrTooLarge, len(s.Cert), MaxDeviceCertSize)
	}
	return nil
}

// DecodeCallSignal strictly decodes a KindCall message body.
func DecodeCallSignal(data []byte) (*CallSignal, error) {
	s := new(CallSignal)
	if err := decode("call signal", data, s, s.Validate); err != nil {
		return nil, err
	}
	return s, nil
}

// Encode returns the deterministic encoding of s.
func (s *CallSignal) Encode() []byte {
	s.V = Version
	return encode(s)
}
