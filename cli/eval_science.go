package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data"
	"cyclepix/data/progress"
	"cyclepix/data/raster"
	"cyclepix/metrics"
	"cyclepix/models"
	"cyclepix/options"
)

// Paired metrics on the data's own scale: when the images are rasters of
// scientific data (TIFF or .npy files, channel counts other than grey or
// RGB, or a declared range), eval scores each pair per channel as
// scikit-image and SciPy would on the same arrays (metrics.ScienceScores):
// MAE, MSE, PSNR and SSIM with the declared data range R = HI − LO of each
// channel, and Pearson's r; --eval_mask restricts them to a mask.

// evalScienceWanted reports whether the pairs are data on their own scale.
func evalScienceWanted(c *evalConfig, s *evalSets, runRange string) bool {
	if c.dataRange != "" || c.mask != "" || runRange != "" && runRange != "dtype" {
		return true
	}
	for _, p := range s.real {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".npy", ".tif", ".tiff":
			return true
		}
	}
	return false
}

// evalRunDomain reads the recorded range and file kind of a run's B
// domain (the generated images' side for AtoB) when eval was given --name.
func evalRunDomain(c *evalConfig) (rangeValue, format string, err error) {
	if c.name == "" {
		return "", "", nil
	}
	path := filepath.Join(c.checkpointsDir, c.name, "train_opt.txt")
	if _, err := os.Stat(path); err != nil {
		return "", "", nil
	}
	o, err := models.RecordedOptions(path)
	if err != nil {
		return "", "", err
	}
	side := "B"
	if d, _ := o["direction"].(string); d == "BtoA" {
		side = "A"
	}
	r, _ := o["range_"+side].(string)
	f, _ := o["format_"+side].(string)
	return r, f, nil
}

// runEvalScience scores the pairs on the data's scale and prints and
// (with --json) writes the scores.
func runEvalScience(c *evalConfig, s *evalSets, runRange string, stdout, stderr io.Writer) error {
	if c.unpaired {
		return fmt.Errorf("--unpaired: FID and KID need 8-bit grey or RGB images; data on their own scale are scored in pairs")
	}
	spec := c.dataRange
	flag := "range"
	if spec == "" {
		spec, flag = runRange, "range (from the run's range_B)"
	}
	rg, err := data.ParseRange(flag, spec)
	if err != nil {
		return err
	}
	if rg.Kind == data.RangePercentiles {
		return fmt.Errorf("--range %s: eval needs the numbers, LO:HI per channel (training records them in train_opt.txt)", rg)
	}
	var set metrics.ScienceSet
	bar := progress.Count(stderr, len(s.pairs), "score", "pair")
	var ranges []float64
	for _, p := range s.pairs {
		real, err := evalReadRaster(s.real[p[0]])
		if err != nil {
			return err
		}
		fake, err := evalReadRaster(s.fake[p[1]])
		if err != nil {
			return err
		}
		if real.C != fake.C || real.W != fake.W || real.H != fake.H {
			return fmt.Errorf("%s is %s but %s is %s: a pair must have one shape", s.real[p[0]], real.Shape(), s.fake[p[1]], fake.Shape())
		}
		if ranges == nil {
			sc, err := rg.Scale("range", real.DType, real.C)
			if err != nil {
				return fmt.Errorf("%s: %w", s.real[p[0]], err)
			}
			for k := range sc.Lo {
				ranges = append(ranges, sc.Hi[k]-sc.Lo[k])
			}
		}
		var mask []bool
		if c.mask != "" {
			if mask, err = evalMask(c.mask, s.real[p[0]], s.keyOf(p[0]), real.W, real.H); err != nil {
				return err
			}
		}
		if _, err := set.Add(real.Data, fake.Data, real.C, real.H, real.W, ranges, mask); err != nil {
			return fmt.Errorf("%s and %s: %w", s.real[p[0]], s.fake[p[1]], err)
		}
		bar.Add(1)
	}
	_ = bar.Finish()
	res, err := set.Result()
	if err != nil {
		return err
	}
	rtext := make([]string, len(ranges))
	for k, r := range ranges {
		rtext[k] = fmt.Sprintf("%g", r)
	}
	fmt.Fprintf(stdout, "paired metrics on the data's scale over %d pairs, data range per channel %s", res.Images, strings.Join(rtext, ","))
	if c.mask != "" {
		fmt.Fprintf(stdout, ", inside the masks of %s", c.mask)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "%-8s %12s %12s %10s %9s %9s\n", "channel", "MAE", "MSE", "PSNR", "SSIM", "Pearson")
	row := func(name string, m metrics.ScienceMetrics) {
		fmt.Fprintf(stdout, "%-8s %12.6g %12.6g %10.4f %9.6f %9.6f\n", name, m.MAE, m.MSE, m.PSNR, m.SSIM, m.Pearson)
	}
	for k, m := range res.Channels {
		row(fmt.Sprintf("%d", k), m)
	}
	row("mean", res.Mean)
	if c.jsonOut == "" {
		return nil
	}
	out := map[string]any{"real": s.realDesc, "fake": s.fakeDesc, "pairs": res.Images, "data_range": ranges, "mask": c.mask}
	for _, v := range res.Values() {
		switch {
		case math.IsInf(v.Value, 0) || math.IsNaN(v.Value):
			out[v.Name] = fmt.Sprint(v.Value) // JSON has no Inf or NaN
		default:
			out[v.Name] = v.Value
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return options.WriteFileAtomic(c.jsonOut, append(b, '\n'))
}

// evalReadRaster reads a file's values as stored: rasters as they are,
// other images (JPEG, 8-bit PNG) as their 8-bit values.
func evalReadRaster(path string) (*raster.Raster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if raster.Sniff(b) != "" {
		return raster.Decode(b, path)
	}
	img, err := data.DecodeImage(b, path, data.DepthFull)
	if err != nil {
		return nil, err
	}
	r := raster.New(img.W, img.H, img.C, raster.Uint8)
	n := img.W * img.H
	for i := 0; i < n; i++ {
		for k := 0; k < img.C; k++ {
			if img.HighDepth() {
				r.DType = raster.Uint16
				r.Data[k*n+i] = float32(math.Round(float64(img.Float[i*img.C+k]) * 65535))
			} else {
				r.Data[k*n+i] = float32(img.Pix[i*img.C+k])
			}
		}
	}
	return r, nil
}

// evalMask reads the mask of a pair: the file of the pair's name in dir
// (any extension), its first channel, non-zero inside.
func evalMask(dir, realPath, key string, w, h int) ([]bool, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(key)+".*"))
	var path string
	for _, m := range matches {
		if data.IsImageFile(m) {
			path = m
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("--eval_mask %s has no mask named %s.* for %s", dir, key, realPath)
	}
	m, err := evalReadRaster(path)
	if err != nil {
		return nil, fmt.Errorf("--eval_mask: %w", err)
	}
	if m.W != w || m.H != h {
		return nil, fmt.Errorf("--eval_mask: %s is %dx%d, its image %s %dx%d", path, m.W, m.H, realPath, w, h)
	}
	out := make([]bool, w*h)
	for i, v := range m.Plane(0) {
		out[i] = v > 0
	}
	return out, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer("*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}
