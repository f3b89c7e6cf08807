package viz

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"cyclepix/data"
	"cyclepix/options"
)

// PreviewNotesFile is the file of a `cyclepix test` result folder that
// says, per visual, which channels the 8-bit previews of data with other
// channel counts show ({"real_A": "channels 0,1,2 of 4 as RGB"}): test
// writes it, the side-by-side picture of eval --quality labels columns
// with it.
const PreviewNotesFile = "previews.json"

// sideBySideGap is the white space between cells, in pixels.
const sideBySideGap = 4

// SideBySide lays images out as a table: one row per sample, one column
// per visual, the column names above (a name may have a second line after
// a newline), on white. Every cell is cell×cell
// pixels: an image whose sides divide cell is enlarged by repeating its
// pixels, so that what a generator drew shows unsmoothed; others are
// resized with Pillow's bicubic. A missing image (nil) leaves its cell
// blank.
func SideBySide(columns []string, rows [][]*data.Image, cell int) (*image.RGBA, error) {
	if cell < 8 {
		return nil, fmt.Errorf("side-by-side cell of %d pixels: want at least 8", cell)
	}
	if len(columns) == 0 || len(rows) == 0 {
		return nil, fmt.Errorf("side-by-side image with %d columns and %d rows: nothing to show", len(columns), len(rows))
	}
	face := basicfont.Face7x13
	lines := 1
	for _, name := range columns {
		lines = max(lines, strings.Count(name, "\n")+1)
	}
	header := lines*face.Height + sideBySideGap
	w := len(columns)*(cell+sideBySideGap) + sideBySideGap
	h := header + len(rows)*(cell+sideBySideGap) + sideBySideGap
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: face}
	for j, name := range columns {
		x0 := sideBySideGap + j*(cell+sideBySideGap)
		// A name's second line (what a preview shows) goes below it.
		for k, line := range strings.Split(name, "\n") {
			// Lines wider than the cell are cut rather than run into the next.
			for len(line) > 1 && d.MeasureString(line).Ceil() > cell {
				line = line[:len(line)-1]
			}
			d.Dot = fixed.P(x0+(cell-d.MeasureString(line).Ceil())/2, k*face.Height+face.Ascent+sideBySideGap/2)
			d.DrawString(line)
		}
	}
	for i, row := range rows {
		if len(row) != len(columns) {
			return nil, fmt.Errorf("side-by-side row %d has %d images for %d columns", i, len(row), len(columns))
		}
		for j, m := range row {
			if m == nil {
				continue
			}
			m = m.RGB()
			if m.HighDepth() {
				return nil, fmt.Errorf("side-by-side row %d, %s: 16-bit images are not supported", i, columns[j])
			}
			if cell%m.W != 0 || cell%m.H != 0 {
				m = m.Resize(cell, cell)
			}
			fx, fy := cell/m.W, cell/m.H
			x0, y0 := sideBySideGap+j*(cell+sideBySideGap), header+i*(cell+sideBySideGap)
			for y := 0; y < cell; y++ {
				for x := 0; x < cell; x++ {
					p := m.Pix[((y/fy)*m.W+x/fx)*3:]
					o := out.PixOffset(x0+x, y0+y)
					out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = p[0], p[1], p[2], 255
				}
			}
		}
	}
	return out, nil
}

// SavePNG writes an image as PNG, atomically.
func SavePNG(path string, m image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return options.WriteFileAtomic(path, buf.Bytes())
}
