package harness

import (
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// engineColor keeps one color per engine across panels.
func engineColor(i int) color.Color { return plotutil.Color(i) }

// WritePNG draws throughput by workload and engine: one panel per mode and
// value size, at the largest thread count, with a group of bars (one per
// engine) for each workload and key distribution.
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
	allNames := make([]string, 0, len(r.Engines))
	for _, e := range r.Engines {
		allNames = append(allNames, e.Name)
	}
	for i, p := range panels {
		pl := plot.New()
		pl.Title.Text = fmt.Sprintf("%s, %d-byte values, %d threads", p.mode.Title(), p.vs, threads)
		pl.Y.Label.Text = "million operations per second"
		pl.Y.Min = 0
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
		top := 0.0
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
				}
			}
			bars, err := plotter.NewBarChart(vals, barWidth)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = engineColor(slices.Index(allNames, n))
			bars.Offset = vg.Length(float64(j)-float64(len(names)-1)/2) * barWidth
			pl.Add(bars)
			pl.Legend.Add(n, bars)
		}
		// Leave headroom above the tallest bar for the legend.
		pl.Y.Max = max(top*1.4, 0.001)
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
