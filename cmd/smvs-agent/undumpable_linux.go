package main

import "syscall"

// prSetDumpable is prctl's PR_SET_DUMPABLE.
const prSetDumpable = 4

// undumpable makes the process undumpable: no core dump, and no other
// process, of this uid or another (root with CAP_SYS_PTRACE aside), may
// ptrace it or read /proc/PID/mem, where the keys are.
func undumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
