//go:build !smvs_testhooks

package host

import "smvs/lib/wire"

// tamperSignal returns sig unchanged: only a build with the smvs_testhooks
// tag can tamper with call signals (see testhooks_on.go).
func tamperSignal(sig *wire.CallSignal) *wire.CallSignal { return sig }
