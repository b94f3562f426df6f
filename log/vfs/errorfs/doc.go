// Package errorfs wraps a vfs.FS to make chosen operations fail, so tests can
// check that rskv handles I/O errors, in the spirit of pebble's vfs/errorfs.
//
// Wrap puts an Injector in front of every operation of a file system and of
// the files it opens. The Injector sees a Call (the Op, the path, and for
// reads, writes and truncations the offset and length) and decides whether
// the operation fails. A failed operation does not run; it returns an error
// that wraps ErrInjected and names the operation and path. Writes may instead
// be torn: with WithShortWrites, a write chosen to fail first writes a prefix
// of its buffer.
//
// Built-in injectors:
//
//   - OnIndex and FromIndex fail the Nth operation they see (and, for
//     FromIndex, all later ones), counting as they go;
//   - Ops and PathContains fail every operation of some kinds or on some
//     paths, and are mostly used as filters in All;
//   - WithProbability fails operations at random from a seed;
//   - Toggle fails everything while switched on;
//   - All, Any and Not combine injectors, and InjectorFunc adapts a function;
//   - Recorder counts and traces operations while delegating to another.
//
// The classic exhaustive test, after pebble's TestErrors, fails each
// operation of a workload in turn until a run reaches the end unharmed:
//
//	for i := int64(0); ; i++ {
//		mem := vfs.NewMem()
//		idx := errorfs.OnIndex(i)
//		err := workload(errorfs.Wrap(mem, idx))
//		if !idx.Fired() {
//			require.NoError(t, err) // every operation has had its turn
//			break
//		}
//		require.ErrorIs(t, err, errorfs.ErrInjected)
//		checkRecovery(t, mem.CrashClone())
//	}
//
// To restrict the failures to some operations, filter before counting:
// errorfs.All(errorfs.Ops(errorfs.OpWrite, errorfs.OpSync), idx).
package errorfs
