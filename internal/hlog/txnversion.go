package hlog

import "runtime"

// Version returns the record's seqlock word once no in-place writer holds
// it: it changes with every in-place update and when the record is sealed,
// so a transaction that read the record can tell at commit whether it
// changed since. It must run under the same protection as any MemRecord use.
func (m MemRecord) Version() uint32 {
	lock := m.r.lockWord()
	for spins := 0; ; spins++ {
		v := lock.Load()
		if v&lockBit == 0 {
			return v
		}
		if spins > 16 {
			runtime.Gosched()
		}
	}
}

// UnlockUnchanged releases the lock without publishing a new version: the
// holder changed nothing (it backed off), so readers' copies stay valid
// and a transaction validating the version sees no change.
func (m MemRecord) UnlockUnchanged() {
	lock := m.r.lockWord()
	lock.Store(lock.Load() &^ lockBit)
}
