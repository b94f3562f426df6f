package ycsb

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/errors"
)

// Chooser picks item numbers in [0, N). A Chooser is immutable and may be
// shared by goroutines; the randomness comes from the caller's source, one per
// goroutine, so that runs are deterministic for a seed.
type Chooser interface {
	// Next returns an item number in [0, N) drawn with r.
	Next(r *rand.Rand) uint64
}

// Uniform chooses every item in [0, N) with the same probability.
type Uniform struct {
	// N is the number of items; it must be positive.
	N uint64
}

// Next returns a uniformly random item in [0, u.N).
func (u Uniform) Next(r *rand.Rand) uint64 { return r.Uint64N(u.N) }

// DefaultTheta is YCSB's default zipfian constant.
const DefaultTheta = 0.99

// Zipfian chooses items in [0, N) with probability proportional to
// 1/(rank+1)^theta: item 0 is the most popular. It implements the algorithm
// of Gray et al., "Quickly Generating Billion-Record Synthetic Databases"
// (SIGMOD 1994), as YCSB's ZipfianGenerator does.
type Zipfian struct {
	n                      uint64
	theta, alpha, zetan    float64
	eta, halfPowTheta, thr float64
}

// NewZipfian returns a zipfian chooser over n items with constant theta in
// (0, 1). Building it costs O(n) the first time for a given (n, theta); the
// normalizing constant is cached for later calls.
func NewZipfian(n uint64, theta float64) (*Zipfian, error) {
	if n == 0 {
		return nil, errors.New("ycsb: zipfian needs at least one item")
	}
	if !(theta > 0 && theta < 1) {
		return nil, errors.Newf("ycsb: zipfian theta %v is outside (0, 1)", theta)
	}
	zetan := zeta(n, theta)
	z := &Zipfian{
		n:            n,
		theta:        theta,
		alpha:        1 / (1 - theta),
		zetan:        zetan,
		halfPowTheta: math.Pow(0.5, theta),
	}
	zeta2 := zetaUncached(2, theta)
	if n > 1 {
		z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan)
	}
	z.thr = 1 + z.halfPowTheta
	return z, nil
}

// Next returns a zipfian-distributed item in [0, N).
func (z *Zipfian) Next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 || z.n == 1 {
		return 0
	}
	if uz < z.thr {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if v >= z.n {
		v = z.n - 1
	}
	return v
}

// ScrambledZipfian is a Zipfian whose ranks are hashed (64-bit FNV-1a, as in
// YCSB's ScrambledZipfianGenerator) onto [0, N), so that the popular items
// are scattered instead of being the first ones loaded.
type ScrambledZipfian struct {
	z *Zipfian
}

// NewScrambledZipfian returns a scrambled zipfian chooser over n items.
func NewScrambledZipfian(n uint64, theta float64) (*ScrambledZipfian, error) {
	z, err := NewZipfian(n, theta)
	if err != nil {
		return nil, err
	}
	return &ScrambledZipfian{z: z}, nil
}

// Next returns a scrambled zipfian-distributed item in [0, N).
func (s *ScrambledZipfian) Next(r *rand.Rand) uint64 {
	return fnv64(s.z.Next(r)) % s.z.n
}

// fnv64 is YCSB's fnvhash64: FNV-1a over the eight little-endian bytes of v.
func fnv64(v uint64) uint64 {
	const (
		offset = 0xCBF29CE484222325
		prime  = 1099511628211
	)
	h := uint64(offset)
	for range 8 {
		h ^= v & 0xff
		h *= prime
		v >>= 8
	}
	// YCSB takes Math.abs of the signed value; do the same so that the
	// mapping matches it.
	if int64(h) < 0 {
		h = uint64(-int64(h))
	}
	return h
}

type zetaKey struct {
	n     uint64
	theta float64
}

// zetaCache memoizes zeta(n, theta), which costs O(n) to compute: a harness
// runs many workloads over the same item count.
var zetaCache sync.Map // zetaKey -> float64

func zeta(n uint64, theta float64) float64 {
	k := zetaKey{n, theta}
	if v, ok := zetaCache.Load(k); ok {
		return v.(float64)
	}
	v := zetaUncached(n, theta)
	zetaCache.Store(k, v)
	return v
}

func zetaUncached(n uint64, theta float64) float64 {
	sum := 0.0
	for i := uint64(1); i <= n; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

// Distribution names a way of choosing items.
type Distribution int

const (
	// DistUniform chooses items uniformly.
	DistUniform Distribution = iota
	// DistZipfian chooses items with a scrambled zipfian distribution.
	DistZipfian
)

// String returns "uniform" or "zipfian".
func (d Distribution) String() string {
	switch d {
	case DistUniform:
		return "uniform"
	case DistZipfian:
		return "zipfian"
	default:
		return "Distribution(" + strconv.Itoa(int(d)) + ")"
	}
}

// ParseDistribution parses "uniform" or "zipfian" (case-insensitive).
func ParseDistribution(s string) (Distribution, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "uniform", "u":
		return DistUniform, nil
	case "zipfian", "zipf", "z":
		return DistZipfian, nil
	}
	return 0, errors.Newf("ycsb: unknown distribution %q (want uniform or zipfian)", s)
}

// NewChooser returns the chooser for d over n items; theta applies to the
// zipfian distribution (0 means DefaultTheta).
func NewChooser(d Distribution, n uint64, theta float64) (Chooser, error) {
	if n == 0 {
		return nil, errors.New("ycsb: chooser needs at least one item")
	}
	if theta == 0 {
		theta = DefaultTheta
	}
	switch d {
	case DistUniform:
		return Uniform{N: n}, nil
	case DistZipfian:
		return NewScrambledZipfian(n, theta)
	}
	return nil, errors.Newf("ycsb: unknown distribution %d", int(d))
}
