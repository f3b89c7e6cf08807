package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"cyclepix/data"
	"cyclepix/data/download"
	"cyclepix/data/progress"
	"cyclepix/metrics"
	"cyclepix/options"
	"cyclepix/quality"
	"cyclepix/torch"
)

func init() {
	register("eval", "metrics of translated images: paired L1, PSNR, SSIM; unpaired FID, KID", runEval)
}

// evalConfig holds eval's flags.
type evalConfig struct {
	real, fake, results    string
	realSuffix, fakeSuffix string
	unpaired, noFID        bool
	inception              string
	download               bool
	batch                  int
	device                 string
	kidSubsets, kidSubset  int
	seed                   uint64
	jsonOut                string
	// Data on their own scale: the declared range of the real images,
	// masks, and where a --name run's recorded range is.
	dataRange, mask, checkpointsDir string

	// --name finds a run's results; --quality and what goes with it.
	name, resultsDir, phase, epoch string
	quality                        string
	thresholds                     string
	strict                         bool
	qualitySeed                    uint64
	sideBySide                     string
	sideBySideRows                 int
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c evalConfig
	fs.StringVar(&c.real, "real", "", "folder of real (ground-truth) images")
	fs.StringVar(&c.fake, "fake", "", "folder of generated images; paired with --real by file name (extension ignored)")
	fs.StringVar(&c.results, "results", "", "instead of --real/--fake: a 'cyclepix test' result folder (<results_dir>/<name>/<phase>_<epoch>), pairing images/<x><real_suffix>.png with images/<x><fake_suffix>.png")
	fs.StringVar(&c.realSuffix, "real_suffix", "_real_B", "with --results: name ending of the real images")
	fs.StringVar(&c.fakeSuffix, "fake_suffix", "_fake_B", "with --results: name ending of the generated images")
	fs.BoolVar(&c.unpaired, "unpaired", false, "do not pair the images (unaligned data): FID and KID only")
	fs.BoolVar(&c.noFID, "no_fid", false, "paired metrics only (no Inception network)")
	fs.StringVar(&c.inception, "inception", "", "pytorch-fid's Inception-v3 weights "+metrics.InceptionFile+" (default: $CYCLEPIX_INCEPTION, else the cyclepix or torch hub cache if it is there)")
	fs.BoolVar(&c.download, "download_inception", false, "download the Inception weights (91 MB, "+metrics.InceptionURL+") into the cyclepix cache when they are not found")
	fs.IntVar(&c.batch, "batch_size", 16, "images per Inception batch")
	fs.StringVar(&c.device, "device", "auto", "where the Inception network runs: cpu, cuda, cuda:N, or auto")
	fs.IntVar(&c.kidSubsets, "kid_subsets", 100, "KID: number of random subsets averaged")
	fs.IntVar(&c.kidSubset, "kid_subset_size", 1000, "KID: images per subset (capped at the smaller set)")
	fs.Uint64Var(&c.seed, "seed", 0, "KID: seed of the subset draws")
	fs.StringVar(&c.jsonOut, "json", "", "also write the metrics to this JSON file")
	fs.StringVar(&c.dataRange, "range", "", "data on their own scale (TIFF/.npy, other channel counts): the real images' declared range, LO:HI or LO:HI,… per channel; PSNR and SSIM use HI − LO as each channel's data range (default: the run's recorded range_B with --name, else dtype, the file type's range)")
	fs.StringVar(&c.mask, "eval_mask", "", "folder of masks matched to the images by name (any image or raster file, non-zero inside): every paired metric is computed inside the mask only")
	fs.StringVar(&c.checkpointsDir, "checkpoints_dir", "./checkpoints", "with --name: where the run's train_opt.txt (its recorded ranges) is")
	fs.StringVar(&c.name, "name", "", "instead of --results: the run whose 'cyclepix test' results to evaluate (<results_dir>/<name>/<phase>_<epoch>)")
	fs.StringVar(&c.resultsDir, "results_dir", "./results", "with --name: where 'cyclepix test' wrote results")
	fs.StringVar(&c.phase, "phase", "test", "with --name: the phase tested")
	fs.StringVar(&c.epoch, "epoch", "latest", "with --name: the epoch tested")
	fs.StringVar(&c.quality, "quality", "", "check the results of a model trained on a built-in dataset ("+strings.Join(quality.Datasets(), ", ")+") against quality thresholds: a domain classifier, background and cycle figures for unpaired data, L1/PSNR/SSIM for paired data")
	fs.StringVar(&c.thresholds, "threshold", "", "with --quality: replace thresholds, FIGURE=VALUE[,FIGURE=VALUE…] (shares as fractions: fake_B_as_B=0.9); gives unchecked figures one")
	fs.BoolVar(&c.strict, "strict", false, "with --quality: exit with status 1 when a figure misses its threshold")
	fs.Uint64Var(&c.qualitySeed, "quality_seed", 1, "with --quality: seed of the domain classifier (its images, weights and order)")
	fs.StringVar(&c.sideBySide, "side_by_side", "", "with --quality: also write a PNG of the first samples' visuals side by side")
	fs.IntVar(&c.sideBySideRows, "side_by_side_rows", 4, "with --side_by_side: how many samples")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.name != "" {
		if c.results != "" || c.real != "" || c.fake != "" {
			return fmt.Errorf("--name finds the results folder itself: give it without --results, --real and --fake")
		}
		c.results = filepath.Join(c.resultsDir, c.name, c.phase+"_"+c.epoch)
		if _, err := os.Stat(c.results); err != nil {
			return fmt.Errorf("--name %s: no results at %s (run 'cyclepix test --name %s' first, or set --results_dir, --phase, --epoch)", c.name, c.results, c.name)
		}
	}
	if c.quality != "" {
		return runQuality(&c, stdout, stderr)
	}
	for _, f := range []struct {
		set  bool
		name string
	}{{c.thresholds != "", "--threshold"}, {c.strict, "--strict"}, {c.sideBySide != "", "--side_by_side"}} {
		if f.set {
			return fmt.Errorf("%s goes with --quality NAME", f.name)
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only: --real DIR --fake DIR, or --results DIR)", fs.Arg(0))
	}
	if c.batch < 1 || c.kidSubsets < 1 || c.kidSubset < 2 {
		return fmt.Errorf("--batch_size and --kid_subsets must be at least 1, --kid_subset_size at least 2")
	}
	if c.unpaired && c.noFID {
		return fmt.Errorf("--unpaired with --no_fid leaves nothing to compute")
	}
	sets, err := evalCollect(&c)
	if err != nil {
		return err
	}
	runRange, _, err := evalRunDomain(&c)
	if err != nil {
		return err
	}
	if evalScienceWanted(&c, sets, runRange) {
		fmt.Fprintf(stdout, "real  %s: %d images\n", sets.realDesc, len(sets.real))
		fmt.Fprintf(stdout, "fake  %s: %d images\n", sets.fakeDesc, len(sets.fake))
		return runEvalScience(&c, sets, runRange, stdout, stderr)
	}
	fmt.Fprintf(stdout, "real  %s: %d images\n", sets.realDesc, len(sets.real))
	fmt.Fprintf(stdout, "fake  %s: %d images\n", sets.fakeDesc, len(sets.fake))

	realImgs, err := evalLoad(sets.real, "real", stderr)
	if err != nil {
		return err
	}
	fakeImgs, err := evalLoad(sets.fake, "fake", stderr)
	if err != nil {
		return err
	}
	rep := &metrics.Report{NReal: len(realImgs), NFake: len(fakeImgs)}
	if !c.unpaired {
		var rp, fp []*data.Image
		for _, p := range sets.pairs {
			rp, fp = append(rp, realImgs[p[0]]), append(fp, fakeImgs[p[1]])
		}
		s, err := metrics.Paired(rp, fp)
		if err != nil {
			var pe *metrics.PairError
			if errors.As(err, &pe) {
				p := sets.pairs[pe.Index]
				return fmt.Errorf("%s and %s: %w", sets.real[p[0]], sets.fake[p[1]], pe.Err)
			}
			return err
		}
		rep.Paired = &s
		if sets.unmatchedReal+sets.unmatchedFake > 0 {
			fmt.Fprintf(stdout, "note  %d real and %d generated images have no counterpart of the same name: the paired metrics leave them out, FID and KID use them\n",
				sets.unmatchedReal, sets.unmatchedFake)
		}
	}
	inceptionPath := ""
	if !c.noFID {
		var note string
		inceptionPath, note, err = evalInceptionPath(&c, stderr)
		if err != nil {
			return err
		}
		if note != "" && c.unpaired {
			return fmt.Errorf("%s", strings.TrimPrefix(note, "FID/KID skipped: "))
		}
		if note != "" {
			evalPrint(stdout, rep)
			fmt.Fprintln(stdout, note)
			return evalWriteJSON(c.jsonOut, rep, sets, "")
		}
		if len(realImgs) < 2 || len(fakeImgs) < 2 {
			evalPrint(stdout, rep)
			fmt.Fprintln(stdout, "FID/KID skipped: they need at least 2 images in each set")
			return evalWriteJSON(c.jsonOut, rep, sets, "")
		}
		if err := evalUnpaired(&c, inceptionPath, realImgs, fakeImgs, rep, stderr); err != nil {
			return err
		}
	}
	evalPrint(stdout, rep)
	return evalWriteJSON(c.jsonOut, rep, sets, inceptionPath)
}

// evalSets are the image files of both sides and the pairs among them.
type evalSets struct {
	realDesc, fakeDesc           string
	real, fake                   []string
	pairs                        [][2]int // indices into real and fake
	unmatchedReal, unmatchedFake int
	realKey                      []string // each real image's key
}

// keyOf is the pairing key of real image i.
func (s *evalSets) keyOf(i int) string { return s.realKey[i] }

// evalCollect lists the images and pairs those with the same key: the
// path below the folder without its extension, or for --results the name
// without the real/fake suffix.
func evalCollect(c *evalConfig) (*evalSets, error) {
	var s evalSets
	realKeys, fakeKeys := map[string]int{}, map[string]int{}
	switch {
	case c.results != "" && (c.real != "" || c.fake != ""):
		return nil, fmt.Errorf("give either --results or --real and --fake, not both")
	case c.results != "":
		dir := c.results
		if st, err := os.Stat(filepath.Join(dir, "images")); err == nil && st.IsDir() {
			dir = filepath.Join(dir, "images")
		}
		all, err := data.MakeDataset(dir, 0)
		if err != nil {
			return nil, fmt.Errorf("--results: %w", err)
		}
		// Outputs on the data's scale (.tif, .npy) come with a PNG
		// preview of the same name: the data file is the one scored.
		isData := func(p string) bool {
			e := strings.ToLower(filepath.Ext(p))
			return e == ".npy" || e == ".tif" || e == ".tiff"
		}
		add := func(keys map[string]int, list *[]string, k, p string) {
			if i, ok := keys[k]; ok {
				if isData((*list)[i]) || !isData(p) {
					return
				}
				(*list)[i] = p
				return
			}
			keys[k] = len(*list)
			*list = append(*list, p)
		}
		for _, p := range all {
			stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
			if k, ok := strings.CutSuffix(stem, c.realSuffix); ok {
				add(realKeys, &s.real, k, p)
			} else if k, ok := strings.CutSuffix(stem, c.fakeSuffix); ok {
				add(fakeKeys, &s.fake, k, p)
			}
		}
		s.realDesc, s.fakeDesc = filepath.Join(dir, "*"+c.realSuffix+".*"), filepath.Join(dir, "*"+c.fakeSuffix+".*")
		if len(s.real) == 0 || len(s.fake) == 0 {
			return nil, fmt.Errorf("%s has %d *%s and %d *%s images; need both (a 'cyclepix test' result folder, or set --real_suffix/--fake_suffix)",
				dir, len(s.real), c.realSuffix, len(s.fake), c.fakeSuffix)
		}
	case c.real != "" && c.fake != "":
		var err error
		if s.real, err = evalScan(c.real, "--real", realKeys); err != nil {
			return nil, err
		}
		if s.fake, err = evalScan(c.fake, "--fake", fakeKeys); err != nil {
			return nil, err
		}
		s.realDesc, s.fakeDesc = c.real, c.fake
	default:
		return nil, fmt.Errorf("give --real DIR and --fake DIR, or --results DIR (run 'cyclepix eval --help')")
	}
	if c.unpaired {
		return &s, nil
	}
	keys := make([]string, 0, len(realKeys))
	s.realKey = make([]string, len(s.real))
	for k, i := range realKeys {
		keys = append(keys, k)
		s.realKey[i] = k
	}
	sort.Strings(keys)
	for _, k := range keys {
		if j, ok := fakeKeys[k]; ok {
			s.pairs = append(s.pairs, [2]int{realKeys[k], j})
		}
	}
	if len(s.pairs) == 0 {
		return nil, fmt.Errorf("no image name in %s matches one in %s, so nothing can be paired; pass --unpaired for FID and KID only", s.realDesc, s.fakeDesc)
	}
	s.unmatchedReal, s.unmatchedFake = len(s.real)-len(s.pairs), len(s.fake)-len(s.pairs)
	return &s, nil
}

// evalScan lists a folder's images, keyed by path below it without the
// extension.
func evalScan(dir, flagName string, keys map[string]int) ([]string, error) {
	paths, err := data.MakeDataset(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no images in %s", flagName, dir)
	}
	for i, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			rel = p
		}
		keys[strings.TrimSuffix(rel, filepath.Ext(rel))] = i
	}
	return paths, nil
}

func evalLoad(paths []string, what string, stderr io.Writer) ([]*data.Image, error) {
	bar := progress.Count(stderr, len(paths), "load "+what, "img")
	out := make([]*data.Image, len(paths))
	for i, p := range paths {
		m, err := data.LoadImage(p)
		if err != nil {
			return nil, err
		}
		out[i] = m
		bar.Add(1)
	}
	return out, nil
}

// evalCacheFile is where --download_inception puts the weights.
func evalCacheFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the Inception weights (%w); download %s and pass --inception PATH", err, metrics.InceptionURL)
	}
	return filepath.Join(dir, "cyclepix", metrics.InceptionFile), nil
}

// evalInceptionPath finds the Inception weights: --inception, else
// $CYCLEPIX_INCEPTION, the cyclepix cache, or the torch hub cache where
// pytorch-fid keeps them; with --download_inception it fetches them. A
// non-empty note explains why FID and KID are skipped.
func evalInceptionPath(c *evalConfig, stderr io.Writer) (path, note string, err error) {
	if c.inception != "" {
		if _, err := os.Stat(c.inception); err != nil {
			return "", "", fmt.Errorf("--inception %s: %w (download %s)", c.inception, errors.Unwrap(err), metrics.InceptionURL)
		}
		return c.inception, "", nil
	}
	var cands []string
	if v := os.Getenv("CYCLEPIX_INCEPTION"); v != "" {
		cands = append(cands, v)
	}
	cache, cacheErr := evalCacheFile()
	if cacheErr == nil {
		cands = append(cands, cache)
	}
	if v := os.Getenv("TORCH_HOME"); v != "" {
		cands = append(cands, filepath.Join(v, "hub", "checkpoints", metrics.InceptionFile))
	}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, ".cache", "torch", "hub", "checkpoints", metrics.InceptionFile))
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p, "", nil
		}
	}
	if !c.download {
		return "", fmt.Sprintf("FID/KID skipped: no Inception weights found. Add --download_inception to fetch them, or download %s and pass --inception PATH (or --no_fid to silence this)", metrics.InceptionURL), nil
	}
	if cacheErr != nil {
		return "", "", cacheErr
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return "", "", err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "downloading %s to %s\n", metrics.InceptionURL, cache)
	if err := download.File(ctx, http.DefaultClient, metrics.InceptionURL, cache, stderr); err != nil {
		return "", "", fmt.Errorf("download the Inception weights: %w (or download %s yourself and pass --inception PATH)", err, metrics.InceptionURL)
	}
	if err := evalCheckHash(cache); err != nil {
		os.Remove(cache)
		return "", "", err
	}
	return cache, "", nil
}

// evalCheckHash checks that the file's SHA-256 starts with the digits in
// its name, as torch.hub does.
func evalCheckHash(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.HasPrefix(sum, metrics.InceptionSHA256Prefix) {
		return fmt.Errorf("downloaded %s has SHA-256 %s…, want %s…: removed it", path, sum[:8], metrics.InceptionSHA256Prefix)
	}
	return nil
}

// evalDevice resolves --device.
func evalDevice(s string) (torch.Device, error) {
	if s == "auto" {
		if torch.CUDADeviceCount() > 0 {
			return torch.CUDA(0), nil
		}
		return torch.CPU, nil
	}
	d, err := torch.ParseDevice(s)
	if err != nil {
		return torch.CPU, fmt.Errorf("--device: %w", err)
	}
	if d != torch.CPU && int(d) >= torch.CUDADeviceCount() {
		return torch.CPU, fmt.Errorf("--device %s: this machine has %d CUDA devices", s, torch.CUDADeviceCount())
	}
	return d, nil
}

func evalUnpaired(c *evalConfig, path string, real, fake []*data.Image, rep *metrics.Report, stderr io.Writer) error {
	dev, err := evalDevice(c.device)
	if err != nil {
		return err
	}
	ev, err := metrics.NewEvaluator(metrics.EvaluatorOptions{InceptionPath: path, Device: dev.String(), Batch: c.batch,
		KID: metrics.KIDOptions{Subsets: c.kidSubsets, SubsetSize: c.kidSubset, Seed: c.seed}})
	if err != nil {
		return err
	}
	defer ev.Close()
	feats := func(imgs []*data.Image, what string) (*metrics.Features, error) {
		bar := progress.Count(stderr, len(imgs), "inception "+what, "img")
		f, err := ev.Features(imgs, func(done int) { bar.Set(done) })
		if err != nil {
			return nil, fmt.Errorf("%s images: %w", what, err)
		}
		return f, nil
	}
	fr, err := feats(real, "real")
	if err != nil {
		return err
	}
	ff, err := feats(fake, "fake")
	if err != nil {
		return err
	}
	return ev.Unpaired(rep, fr, ff)
}

func evalPrint(w io.Writer, r *metrics.Report) {
	if p := r.Paired; p != nil {
		fmt.Fprintf(w, "pairs %d\n", p.Pairs)
		fmt.Fprintf(w, "L1    %.6f  (mean absolute error as a fraction of full scale: %.3f of 255 levels)\n", p.L1, p.L1*255)
		switch {
		case math.IsInf(p.PSNR, 1):
			fmt.Fprintf(w, "PSNR  inf  (every pair is identical)\n")
		case p.Identical > 0:
			fmt.Fprintf(w, "PSNR  %.4f dB  (mean over %d pairs; %d identical pairs left out)\n", p.PSNR, p.Pairs-p.Identical, p.Identical)
		default:
			fmt.Fprintf(w, "PSNR  %.4f dB\n", p.PSNR)
		}
		fmt.Fprintf(w, "SSIM  %.6f  (Gaussian window 11, σ 1.5)\n", p.SSIM)
	}
	if r.FID != nil {
		fmt.Fprintf(w, "FID   %.4f  (Inception-v3 pool features of %d real and %d generated images, resized to 299×299 with Pillow's bicubic filter as clean-fid does)\n",
			*r.FID, r.NReal, r.NFake)
		if min(r.NReal, r.NFake) < metrics.FeatureDim {
			fmt.Fprintf(w, "      fewer than %d images per set: FID is biased upward; compare FIDs only at equal image counts (KID is unbiased)\n", metrics.FeatureDim)
		}
	}
	if r.KID != nil {
		fmt.Fprintf(w, "KID   %.6f ± %.6f  (%d subsets of %d)\n", r.KID.Mean, r.KID.Std, r.KID.Subsets, r.KID.SubsetSize)
	}
}

func evalWriteJSON(path string, r *metrics.Report, s *evalSets, inception string) error {
	if path == "" {
		return nil
	}
	out := map[string]any{"real": s.realDesc, "fake": s.fakeDesc, "n_real": r.NReal, "n_fake": r.NFake}
	for k, v := range r.Values() {
		out[k] = v
	}
	if p := r.Paired; p != nil {
		out["pairs"], out["identical_pairs"] = p.Pairs, p.Identical
	}
	if r.KID != nil {
		out["kid_subsets"], out["kid_subset_size"] = r.KID.Subsets, r.KID.SubsetSize
	}
	if inception != "" {
		out["inception"] = inception
		out["resize"] = "clean-fid: Pillow bicubic to 299x299 in float, clipped"
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return options.WriteFileAtomic(path, append(b, '\n'))
}
