package harness

import (
	"fmt"
	"hash/fnv"
	"image/color"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// engineColors gives each known engine its own colour, the same in every
// plot whatever engines a run includes, so that plots compare at a glance.
var engineColors = map[string]color.Color{
	"rskv":     color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	"shardmap": color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
	"syncmap":  color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff}, // olive
	"badger":   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	"pebble":   color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	"bbolt":    color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
}

// engineColor returns name's colour: its own for a known engine, else one
// of the palette's chosen by a hash of the name (fixed per name too).
func engineColor(name string) color.Color {
	if c, ok := engineColors[name]; ok {
		return c
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return plotutil.Color(int(h.Sum32() % 64))
}

// barLogScale is a log scale on which a bar's base (0, which has no
// logarithm) and empty values sit at the bottom of the axis.
type barLogScale struct{}

func (barLogScale) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// logRange returns axis bounds for values on a log scale: whole decades
// around the smallest positive and the largest value, with a decade of
// headroom above for the legend.
func logRange(lo, hi float64) (float64, float64) {
	if hi <= 0 {
		return 0.001, 1
	}
	if lo <= 0 || lo > hi {
		lo = hi
	}
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi))+1)
}

// WritePNG draws throughput by workload and engine: one panel per mode and
// value size, at the largest thread count, with a group of bars (one per
// engine) for each workload and key distribution. The throughput axis is
// logarithmic (engines differ by orders of magnitude: on a linear axis the
// slower ones are slivers) and each engine keeps its colour (engineColor).
func (r *Report) WritePNG(w io.Writer) error {
	s := r.Settings
	threads := slices.Max(s.Threads)
	type panel struct {
		mode Mode
		vs   int
	}
	var panels []panel
	for _, m := range s.Modes {
		for _, vs := range s.ValueSizes {
			panels = append(panels, panel{m, vs})
		}
	}
	cols := len(s.ValueSizes)
	rows := len(s.Modes)
	grid := make([][]*plot.Plot, rows)
	for i, p := range panels {
		pl := plot.New()
		pl.Title.Text = fmt.Sprintf("%s, %d-byte values, %d threads", p.mode.Title(), p.vs, threads)
		pl.Y.Label.Text = "million operations per second (log scale)"
		pl.Y.Scale = barLogScale{}
		pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		var groups []string
		for _, d := range s.Distributions {
			for _, wl := range s.Workloads {
				groups = append(groups, wl+" "+d)
			}
		}
		names := r.engineNames(p.mode)
		// A panel is 7 inches wide, about 440 points of it for the bars:
		// fill three quarters of each group's share.
		barWidth := vg.Points(0.75 * 440 / float64(len(groups)) / float64(max(len(names), 1)))
		top, bottom := 0.0, math.Inf(1)
		for j, n := range names {
			vals := make(plotter.Values, 0, len(groups))
			for _, d := range s.Distributions {
				for _, wl := range s.Workloads {
					row, ok := r.find(n, p.mode, p.vs, wl, d, threads)
					v := 0.0
					if ok && row.Errors == 0 && row.NotFound == 0 {
						v = row.OpsPerSec / 1e6
					}
					vals = append(vals, v)
					top = max(top, v)
					if v > 0 {
						bottom = min(bottom, v)
					}
				}
			}
			bars, err := plotter.NewBarChart(vals, barWidth)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = engineColor(n)
			bars.Offset = vg.Length(float64(j)-float64(len(names)-1)/2) * barWidth
			pl.Add(bars)
			pl.Legend.Add(n, bars)
		}
		pl.Y.Min, pl.Y.Max = logRange(bottom, top)
		pl.Legend.Top = true
		pl.Legend.Left = false
		pl.NominalX(groups...)
		pl.Add(plotter.NewGrid())
		grid[i/cols] = append(grid[i/cols], pl)
	}
	width := vg.Length(cols) * 7 * vg.Inch
	height := vg.Length(rows) * 4 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			grid[i][j].Draw(canvases[i][j])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
