package ycsb_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rskv-go/rskv/internal/ycsb"
)

func draw(t *testing.T, c ycsb.Chooser, n uint64, draws int, seed uint64) []int {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0))
	counts := make([]int, n)
	for range draws {
		v := c.Next(r)
		if v >= n {
			t.Fatalf("chooser returned %d, outside [0, %d)", v, n)
		}
		counts[v]++
	}
	return counts
}

// topShare returns the share of draws that went to the most popular frac of
// items.
func topShare(counts []int, frac float64) float64 {
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	top := max(1, int(float64(len(sorted))*frac))
	var hot, all int
	for i, c := range sorted {
		if i < top {
			hot += c
		}
		all += c
	}
	return float64(hot) / float64(all)
}

func TestUniformCoversRange(t *testing.T) {
	const n = 1000
	counts := draw(t, ycsb.Uniform{N: n}, n, 100*n, 1)
	for i, c := range counts {
		if c == 0 {
			t.Fatalf("item %d never chosen in %d draws", i, 100*n)
		}
	}
	if s := topShare(counts, 0.01); s > 0.03 {
		t.Errorf("uniform: top 1%% of items got %.3f of draws, want about 0.01", s)
	}
}

func TestZipfianIsSkewed(t *testing.T) {
	const n = 100_000
	for _, tc := range []struct {
		name string
		mk   func() (ycsb.Chooser, error)
	}{
		{"zipfian", func() (ycsb.Chooser, error) { return ycsb.NewZipfian(n, ycsb.DefaultTheta) }},
		{"scrambled", func() (ycsb.Chooser, error) { return ycsb.NewScrambledZipfian(n, ycsb.DefaultTheta) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.mk()
			if err != nil {
				t.Fatal(err)
			}
			counts := draw(t, c, n, 500_000, 7)
			// For theta 0.99 over 1e5 items the top 1% (1000 items) hold
			// about zeta(1000)/zeta(1e5) ~ 0.6 of the mass.
			if s := topShare(counts, 0.01); s < 0.45 {
				t.Errorf("top 1%% of items got %.3f of draws, want > 0.45", s)
			}
			if s := topShare(counts, 0.0001); s < 0.1 {
				t.Errorf("top 10 items got %.3f of draws, want > 0.1", s)
			}
		})
	}
}

func TestZipfianRankZeroIsHottest(t *testing.T) {
	const n = 10_000
	z, err := ycsb.NewZipfian(n, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	counts := draw(t, z, n, 200_000, 3)
	if counts[0] <= counts[1] || counts[1] <= counts[10] || counts[10] <= counts[1000] {
		t.Errorf("zipfian counts not decreasing by rank: c0=%d c1=%d c10=%d c1000=%d",
			counts[0], counts[1], counts[10], counts[1000])
	}
}

func TestScrambledZipfianScattersHotItems(t *testing.T) {
	const n = 10_000
	z, err := ycsb.NewScrambledZipfian(n, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	counts := draw(t, z, n, 200_000, 3)
	hottest := slices.Index(counts, slices.Max(counts))
	if hottest < 10 {
		t.Errorf("hottest scrambled item is %d, want it scattered away from the first items", hottest)
	}
}

func TestChoosersAreDeterministic(t *testing.T) {
	const n = 1 << 20
	zipf, err := ycsb.NewScrambledZipfian(n, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []ycsb.Chooser{ycsb.Uniform{N: n}, zipf} {
		seq := func(seed uint64) []uint64 {
			r := rand.New(rand.NewPCG(seed, 0))
			out := make([]uint64, 100)
			for i := range out {
				out[i] = c.Next(r)
			}
			return out
		}
		if !slices.Equal(seq(42), seq(42)) {
			t.Errorf("%T: same seed gave different sequences", c)
		}
		if slices.Equal(seq(42), seq(43)) {
			t.Errorf("%T: different seeds gave the same sequence", c)
		}
	}
}

func TestChooserEdgeCases(t *testing.T) {
	z, err := ycsb.NewScrambledZipfian(1, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	draw(t, z, 1, 1000, 1)
	z2, err := ycsb.NewZipfian(2, ycsb.DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	draw(t, z2, 2, 1000, 1)
	if _, err := ycsb.NewZipfian(0, 0.99); err == nil {
		t.Error("NewZipfian(0) succeeded")
	}
	for _, theta := range []float64{0, 1, -0.5, 1.5} {
		if _, err := ycsb.NewZipfian(10, theta); err == nil {
			t.Errorf("NewZipfian(theta=%v) succeeded", theta)
		}
	}
	if _, err := ycsb.NewChooser(ycsb.DistUniform, 0, 0); err == nil {
		t.Error("NewChooser over 0 items succeeded")
	}
}

func TestParseDistribution(t *testing.T) {
	for in, want := range map[string]ycsb.Distribution{"uniform": ycsb.DistUniform, "Zipfian": ycsb.DistZipfian, " zipf ": ycsb.DistZipfian} {
		got, err := ycsb.ParseDistribution(in)
		if err != nil || got != want {
			t.Errorf("ParseDistribution(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != want.String() {
			t.Errorf("String round trip: %q != %q", got, want)
		}
	}
	if _, err := ycsb.ParseDistribution("latest"); err == nil {
		t.Error("ParseDistribution(latest) succeeded")
	}
}

func TestAppendKeyIsInjective(t *testing.T) {
	seen := make(map[string]uint64)
	var buf []byte
	for i := range uint64(200_000) {
		buf = ycsb.AppendKey(buf[:0], i)
		if len(buf) != ycsb.KeySize {
			t.Fatalf("key of %d has %d bytes", i, len(buf))
		}
		if j, dup := seen[string(buf)]; dup {
			t.Fatalf("items %d and %d share key %x", j, i, buf)
		}
		seen[string(buf)] = i
	}
}

func TestModify(t *testing.T) {
	v := ycsb.Modify(nil, nil)
	for range 3 {
		v = ycsb.Modify(nil, v)
	}
	if want := []byte{4, 0, 0, 0, 0, 0, 0, 0}; !slices.Equal(v, want) {
		t.Errorf("four modifies of nothing = %v, want %v", v, want)
	}
	old := make([]byte, 100)
	old[99] = 7
	got := ycsb.Modify([]byte("prefix"), old)
	if string(got[:6]) != "prefix" || len(got) != 106 || got[6] != 1 || got[105] != 7 {
		t.Errorf("Modify kept the wrong bytes: %v", got)
	}
	if old[0] != 0 {
		t.Error("Modify changed its input")
	}
	short := ycsb.Modify(nil, []byte{0xff, 0x01})
	if !slices.Equal(short, []byte{0x00, 0x02}) {
		t.Errorf("Modify of a short value = %v, want [0 2]", short)
	}
}

func TestParseWorkloads(t *testing.T) {
	ws, err := ycsb.ParseWorkloads("a, B,ycsb-c,f")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	if !slices.Equal(names, []string{"A", "B", "C", "F"}) {
		t.Errorf("parsed %v", names)
	}
	for _, bad := range []string{"", "D", "A,Z"} {
		if _, err := ycsb.ParseWorkloads(bad); err == nil {
			t.Errorf("ParseWorkloads(%q) succeeded", bad)
		}
	}
}
