package quality

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/data"
	"cyclepix/data/raster"
	"cyclepix/viz"
)

// KnownVisuals are the visual names `cyclepix test` writes for the models
// the checks understand (cycle_gan: real_A fake_B rec_A real_B fake_A
// rec_B, idt_* with --lambda_identity; pix2pix and cut: real_A fake_B
// real_B, cut also idt_B), in display order.
var KnownVisuals = []string{"real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"}

// Results are the images of a `cyclepix test` result folder
// (<results_dir>/<name>/<phase>_<epoch>/images/<stem>_<visual>.png), by
// sample and visual. A visual of a domain on the data's own scale has two
// files: the data (<stem>_<visual>.tif or .npy, or .png with the preview
// then named <stem>_<visual>_preview.png) and an 8-bit preview PNG for the
// page; Load reads the picture, LoadData the data.
type Results struct {
	Dir     string   // the images folder
	Samples []string // the stems, sorted
	Visuals []string // the visuals present, in KnownVisuals order
	// Notes says which channels the previews of a visual show, when they
	// are previews of data with other channel counts (viz.PreviewNotesFile).
	Notes map[string]string
	paths map[string]map[string]string
	data  map[string]map[string]string
}

// LoadResults lists a result folder (or its images/ subfolder).
func LoadResults(dir string) (*Results, error) {
	if st, err := os.Stat(filepath.Join(dir, "images")); err == nil && st.IsDir() {
		dir = filepath.Join(dir, "images")
	}
	files, err := data.MakeDataset(dir, 0)
	if err != nil {
		return nil, err
	}
	r := &Results{Dir: dir, paths: map[string]map[string]string{}, data: map[string]map[string]string{}, Notes: map[string]string{}}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), viz.PreviewNotesFile)); err == nil {
		if err := json.Unmarshal(b, &r.Notes); err != nil {
			return nil, fmt.Errorf("%s: %w", viz.PreviewNotesFile, err)
		}
	}
	// The files of one sample's visual, by kind.
	type visualFiles struct{ png, preview, raw string }
	found := map[string]map[string]*visualFiles{}
	seen := map[string]bool{}
	for _, p := range files {
		ext := strings.ToLower(filepath.Ext(p))
		stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		preview := false
		if s, ok := strings.CutSuffix(stem, "_preview"); ok && ext == ".png" {
			stem, preview = s, true
		}
		for _, v := range KnownVisuals {
			s, ok := strings.CutSuffix(stem, "_"+v)
			if !ok {
				continue
			}
			if found[s] == nil {
				found[s] = map[string]*visualFiles{}
				r.Samples = append(r.Samples, s)
			}
			if found[s][v] == nil {
				found[s][v] = &visualFiles{}
			}
			f := found[s][v]
			switch {
			case preview:
				f.preview = p
			case ext == ".png":
				f.png = p
			default:
				f.raw = p
			}
			seen[v] = true
			break
		}
	}
	if len(r.Samples) == 0 {
		return nil, fmt.Errorf("%s has no <stem>_<visual>.png images of 'cyclepix test' (visuals %s)", dir, strings.Join(KnownVisuals, ", "))
	}
	for s, vs := range found {
		r.paths[s], r.data[s] = map[string]string{}, map[string]string{}
		for v, f := range vs {
			// The picture: the preview, else the PNG, else the data file
			// (a grey or RGB TIFF reads as one).
			r.paths[s][v] = firstOf(f.preview, f.png, f.raw)
			// The data: a .tif/.npy, else a PNG that has a preview (a PNG
			// on the data's scale), else the 8-bit PNG, which is its own.
			r.data[s][v] = firstOf(f.raw, f.png, f.preview)
		}
	}
	sort.Strings(r.Samples)
	for _, v := range KnownVisuals {
		if seen[v] {
			r.Visuals = append(r.Visuals, v)
		}
	}
	return r, nil
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Has reports whether every sample has visual v.
func (r *Results) Has(v string) bool {
	for _, s := range r.Samples {
		if r.paths[s][v] == "" {
			return false
		}
	}
	return true
}

// Path is the picture of one sample's visual: its 8-bit PNG, or the
// preview of a visual on the data's scale ("" when it has none).
func (r *Results) Path(sample, visual string) string { return r.paths[sample][visual] }

// DataPath is the file of one sample's visual on the data's scale: the
// .tif or .npy `cyclepix test` wrote, or the PNG of an 8-bit visual ("" when
// it has none).
func (r *Results) DataPath(sample, visual string) string { return r.data[sample][visual] }

// Load decodes one visual of every sample. Every sample must have it.
func (r *Results) Load(visual string) ([]*data.Image, error) {
	out := make([]*data.Image, len(r.Samples))
	for i, s := range r.Samples {
		p := r.paths[s][visual]
		if p == "" {
			return nil, fmt.Errorf("%s: sample %s has no %s image (%s)", r.Dir, s, visual, filepath.Join(r.Dir, s+"_"+visual+".png"))
		}
		m, err := data.LoadImage(p)
		if err != nil {
			return nil, err
		}
		out[i] = m.RGB()
	}
	return out, nil
}

// LoadData decodes one visual of every sample as stored, with its own
// channels and values (package raster): what a figure about the data
// rather than its picture needs, such as a fluorescence channel of real_A.
func (r *Results) LoadData(visual string) ([]*raster.Raster, error) {
	out := make([]*raster.Raster, len(r.Samples))
	for i, s := range r.Samples {
		p := r.data[s][visual]
		if p == "" {
			return nil, fmt.Errorf("%s: sample %s has no %s image (%s)", r.Dir, s, visual, filepath.Join(r.Dir, s+"_"+visual+".tif"))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if out[i], err = raster.Decode(b, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}
