package viz

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// LossPlotSVG draws every loss of pts against training progress (epoch +
// fraction of the epoch, from itersPerEpoch) as an inline SVG line chart,
// one panel per loss so that losses of very different scales stay
// readable.
func LossPlotSVG(pts []Point, itersPerEpoch int) string {
	if len(pts) == 0 {
		return ""
	}
	series := map[string][][2]float64{}
	var names []string
	for _, p := range pts {
		x := float64(p.Epoch - 1)
		if itersPerEpoch > 0 {
			x += float64(p.Iters) / float64(itersPerEpoch)
		}
		for _, l := range p.Losses {
			if _, ok := series[l.Name]; !ok {
				names = append(names, l.Name)
			}
			series[l.Name] = append(series[l.Name], [2]float64{x, l.Value})
		}
	}
	const w, h, cols = 300, 160, 4
	rows := (len(names) + cols - 1) / cols
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="losses" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", cols*w, rows*h)
	for i, n := range names {
		ox, oy := (i%cols)*w, (i/cols)*h
		b.WriteString(panel(n, series[n], ox, oy, w, h, palette[i%len(palette)]))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func panel(name string, s [][2]float64, ox, oy, w, h int, color string) string {
	sort.SliceStable(s, func(i, j int) bool { return s[i][0] < s[j][0] })
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range s {
		x0, x1 = math.Min(x0, p[0]), math.Max(x1, p[0])
		y0, y1 = math.Min(y0, p[1]), math.Max(y1, p[1])
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y1 = y0 + 1
	}
	const ml, mr, mt, mb = 40, 10, 18, 22
	pw, ph := float64(w-ml-mr), float64(h-mt-mb)
	sx := func(x float64) float64 { return float64(ox+ml) + (x-x0)/(x1-x0)*pw }
	sy := func(y float64) float64 { return float64(oy+mt) + (1-(y-y0)/(y1-y0))*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<g><text x="%d" y="%d" font-weight="bold">%s</text>`, ox+ml, oy+12, html.EscapeString(name))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#ccc"/>`, ox+ml, oy+mt, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.3g</text><text x="%d" y="%.1f" text-anchor="end">%.3g</text>`,
		ox+ml-3, sy(y1)+4, y1, ox+ml-3, sy(y0), y0)
	fmt.Fprintf(&b, `<text x="%d" y="%d">epoch %.3g</text><text x="%d" y="%d" text-anchor="end">%.3g</text>`,
		ox+ml, oy+h-6, x0+1, ox+w-mr, oy+h-6, x1+1)
	b.WriteString(`<polyline fill="none" stroke-width="1.2" stroke="` + color + `" points="`)
	step := max(1, len(s)/600) // keep the SVG small for long runs
	for i := 0; i < len(s); i += step {
		fmt.Fprintf(&b, "%.1f,%.1f ", sx(s[i][0]), sy(s[i][1]))
	}
	b.WriteString(`"/></g>` + "\n")
	return b.String()
}
