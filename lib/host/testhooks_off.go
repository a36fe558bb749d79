//go:build !smvs_testhooks

package host

import "smvs/lib/wire"

// tamperSignal and tamperIncoming return sig unchanged: only a build with
// the smvs_testhooks tag can tamper with call signals (see
// testhooks_on.go).
func tamperSignal(sig *wire.CallSignal) *wire.CallSignal { return sig }

func tamperIncoming(sig *wire.CallSignal) *wire.CallSignal { return sig }
