package quality

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/data"
)

// KnownVisuals are the visual names `cyclepix test` writes for the models
// the checks understand (cycle_gan: real_A fake_B rec_A real_B fake_A
// rec_B, idt_* with --lambda_identity; pix2pix and cut: real_A fake_B
// real_B, cut also idt_B), in display order.
var KnownVisuals = []string{"real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"}

// Results are the images of a `cyclepix test` result folder
// (<results_dir>/<name>/<phase>_<epoch>/images/<stem>_<visual>.png), by
// sample and visual.
type Results struct {
	Dir     string   // the images folder
	Samples []string // the stems, sorted
	Visuals []string // the visuals present, in KnownVisuals order
	paths   map[string]map[string]string
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
	r := &Results{Dir: dir, paths: map[string]map[string]string{}}
	seen := map[string]bool{}
	for _, p := range files {
		stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		for _, v := range KnownVisuals {
			s, ok := strings.CutSuffix(stem, "_"+v)
			if !ok {
				continue
			}
			if r.paths[s] == nil {
				r.paths[s] = map[string]string{}
				r.Samples = append(r.Samples, s)
			}
			r.paths[s][v] = p
			seen[v] = true
			break
		}
	}
	if len(r.Samples) == 0 {
		return nil, fmt.Errorf("%s has no <stem>_<visual>.png images of 'cyclepix test' (visuals %s)", dir, strings.Join(KnownVisuals, ", "))
	}
	sort.Strings(r.Samples)
	for _, v := range KnownVisuals {
		if seen[v] {
			r.Visuals = append(r.Visuals, v)
		}
	}
	return r, nil
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

// Path is the file of one sample's visual ("" when it has none).
func (r *Results) Path(sample, visual string) string { return r.paths[sample][visual] }

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
