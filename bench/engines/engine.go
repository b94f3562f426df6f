package engines

import (
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/rskv-go/rskv/internal/ycsb"
)

// Setup is what an engine is opened with.
type Setup struct {
	// Dir is an empty directory for the engine's files.
	Dir string
	// Budget is the memory, in bytes, the engine may use to hold data:
	// caches, memtables, rskv's in-memory log.
	Budget int64
	// Records is the number of records the benchmark will load, for engines
	// that size an index up front.
	Records uint64
	// ValueSize is the size of the values in bytes.
	ValueSize int
}

// Engine describes one store under test.
type Engine struct {
	// Name is the short name used in flags and tables.
	Name string
	// Module is the Go module that implements the store ("" for the
	// standard library); Version is filled from the build info.
	Module string
	// Persistent says whether the engine keeps data on disk; engines that do
	// not skip the larger-than-memory mode.
	Persistent bool
	// Durability says when an acknowledged write survives a crash.
	Durability string
	// Memory says how Setup.Budget is spent.
	Memory string
	// Operations says what Read, Update and ReadModifyWrite do.
	Operations string
	// Open opens the engine.
	Open func(Setup) (ycsb.DB, error)
}

// Version returns the version of the engine's module in this binary.
func (e Engine) Version() string {
	if e.Module == "" {
		return "go"
	}
	if e.Module == rskvModule {
		return "this repository"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == e.Module {
				return d.Version
			}
		}
	}
	return "unknown"
}

const rskvModule = "github.com/rskv-go/rskv"

// All returns every engine, rskv first.
func All() []Engine {
	return []Engine{RSKV(), RSKVMmap(), Badger(), Pebble(), Bolt(), ShardedMap(), SyncMap()}
}

// Extras returns the engines that run only when named: variants for
// investigation whose settings are not comparable with the peers'.
func Extras() []Engine { return []Engine{RSKVNoBackground(), RSKVGrow()} }

// IsRSKV reports whether the engine named name is rskv or a variant of it;
// variants are never counted as rskv's peers.
func IsRSKV(name string) bool { return strings.HasPrefix(name, "rskv") }

// Names returns the names of all engines, extras included.
func Names() []string {
	var out []string
	for _, e := range append(All(), Extras()...) {
		out = append(out, e.Name)
	}
	return out
}

// Lookup returns the engines named in the comma-separated list, in the
// list's order; "all" names every engine but the Extras.
func Lookup(list string) ([]Engine, error) {
	if strings.TrimSpace(list) == "all" {
		return All(), nil
	}
	all := append(All(), Extras()...)
	var out []Engine
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		i := slices.IndexFunc(all, func(e Engine) bool { return e.Name == name })
		if i < 0 {
			return nil, errors.Newf("unknown engine %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, errors.New("no engine given")
	}
	return out, nil
}
