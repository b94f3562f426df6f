//go:build !race

package hlog

// Without the race detector the read cache's words are read and written
// with plain loads and stores: a reader validates its copy against the
// shard's reservation counter after making it (seqlock), as readers of
// in-place updates do (value_norace.go), and discards a copy that an
// overwrite may have touched. Under -race they are atomic
// (readcache_race.go), which the detector understands.

func loadWord(w *uint64) uint64        { return *w }
func storeWord(w *uint64, v uint64)    { *w = v }
func copyOut(dst []byte, src []uint64) { copy(dst, wordBytes(src)) }
func copyIn(dst []uint64, src []byte)  { copy(wordBytes(dst), src) }
