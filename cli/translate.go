package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cyclepix/data"
	"cyclepix/data/exif"
	"cyclepix/data/progress"
	"cyclepix/data/raster"
	"cyclepix/infer"
	"cyclepix/options"
	"cyclepix/torch"
)

func init() {
	register("translate", "translate images or folders with a trained generator, any image size", runTranslate)
}

// translateDefs are translate's own options; the reference's test options
// (--name, --checkpoints_dir, --epoch, --model, --model_suffix, --netG, …)
// and infer.Common are accepted too.
var translateDefs = []options.Def{
	{Name: "input", Default: "", Help: "image file or folder to translate (folders recursively); more files and folders may follow as arguments"},
	{Name: "output", Default: "", Help: "output folder; images keep their names and relative paths"},
	{Name: "out", Default: "", Help: "same as --output"},
	{Name: "format", Default: "", Help: "output format: png, jpg, bmp, tif or ppm (empty: each input's own)"},
	{Name: "jpeg_quality", Default: 95, Help: "JPEG quality of jpg outputs (1-100)"},
	{Name: "exif_transpose", Default: true, Help: exifHelp},
	{Name: "inst", Default: "", Help: "instance maps for a model that takes them (pix2pixhd without --no_instance): a file, or a folder of files named as the inputs (any extension); without them a label map's class boundaries stand in for the instance boundaries"},
}

// exifHelp describes translate's and serve's --exif_transpose.
const exifHelp = "turn JPEG inputs upright by their EXIF orientation before translating, as image viewers show phone photos " +
	"(Pillow's ImageOps.exif_transpose); --exif_transpose=false translates the pixels as stored, as train and test read them"

var translateFormats = map[string]string{"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "bmp": ".bmp", "tif": ".tif", "tiff": ".tif", "ppm": ".ppm"}

// translateItem is one file to translate; formatGiven says --format chose
// out's extension.
type translateItem struct {
	in, out     string
	formatGiven bool
	// inst is the input's instance map ("" for none).
	inst string
}

func runTranslate(args []string, stdout, stderr io.Writer) error {
	flags, positional, err := splitPositional("translate", translateDefs, args)
	if err != nil {
		return err
	}
	var o *options.Set
	var run *infer.Run
	if _, ok := options.ScanValue(flags, "bundle"); ok {
		o, err = infer.OptionSet("translate", translateDefs, flags, stdout)
	} else {
		name := "experiment_name"
		if v, ok := options.ScanValue(flags, "name"); ok {
			name = v
		}
		if run, err = infer.RunOptions("translate", translateDefs, flags, name, stdout); err == nil {
			o = run.Set
		}
	}
	if err != nil {
		return err
	}

	inputs := positional
	if in := o.String("input"); in != "" {
		inputs = append([]string{in}, inputs...)
	}
	if len(inputs) == 0 {
		return errors.New("no input: give --input FILE|DIR (or files and folders as arguments)")
	}
	outDir := o.String("output")
	if outDir == "" {
		outDir = o.String("out")
	}
	if outDir == "" {
		return errors.New("--output DIR is required (the folder the translated images go to)")
	}
	ext := ""
	if f := strings.ToLower(o.String("format")); f != "" {
		if ext = translateFormats[f]; ext == "" {
			return fmt.Errorf("--format %q: want png, jpg, bmp, tif or ppm", f)
		}
	}
	if q := o.Int("jpeg_quality"); q < 1 || q > 100 {
		return fmt.Errorf("--jpeg_quality %d: want 1 to 100", q)
	}
	items, err := translateItems(inputs, outDir, ext)
	if err != nil {
		return err
	}
	if inst := o.String("inst"); inst != "" {
		if err := pairInstances(items, inst); err != nil {
			return err
		}
	}
	batch := max(o.Int("batch_size"), 1)

	var sources []infer.Source
	if o.String("bundle") != "" {
		if sources, err = infer.BundleSources(o); err == nil && len(sources) != 1 {
			err = fmt.Errorf("--bundle: translate takes one bundle, got %d", len(sources))
		}
	} else {
		sources, err = infer.CheckpointSources(run, false)
	}
	if err != nil {
		return err
	}
	workers := max(o.Int("num_threads"), batch, 1)
	eng := infer.NewEngine(infer.EngineConfig(o, batch, workers))
	defer eng.Close()
	ctx := context.Background()
	if seed := o.Int("seed"); seed != 0 {
		if err := eng.Do(ctx, func() error { torch.ManualSeed(uint64(seed)); return nil }); err != nil {
			return err
		}
	}
	m, err := eng.Load(ctx, sources[0])
	if err != nil {
		return err
	}
	if f := o.String("format"); f != "" && !m.Out.Reference && !o.Given("output_format") {
		// --format names the outputs' kind; on the data's scale only the
		// kinds that hold its channels and sample types will do.
		if err := m.SetOutputFormat(f); err != nil {
			return fmt.Errorf("--format %s: %w", f, err)
		}
	}
	mode := "eval mode"
	if !m.Eval {
		mode = "train mode (--eval=false)"
	}
	fmt.Fprintf(stdout, "loaded %s of %s (%s, ngf %d, norm %s, %s→%s channels, %s) from %s\n", m.Net, m.Name, m.Spec.NetG,
		m.Spec.NGF, m.Spec.Norm, translateChannels(m.Spec.InputNC), translateChannels(m.Spec.OutputNC), mode, m.Source)

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	var bar *progress.Bar
	if len(items) > 1 && translateIsTerminal(stderr) {
		bar = progress.Count(stderr, len(items), "translate", "img")
	}
	start := time.Now()
	failed := translateAll(ctx, eng, m, items, workers, o.Int("jpeg_quality"), o.Bool("exif_transpose"), bar, stderr)
	if bar != nil {
		bar.Finish()
	}
	done := len(items) - len(failed)
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "translated %d image(s) into %s in %.2f s (%.1f img/s)\n", done, outDir, secs, float64(done)/max(secs, 1e-9))
	switch {
	case len(failed) == 0:
		return nil
	case len(items) == 1:
		return failed[0]
	}
	return fmt.Errorf("%d of %d images failed (first: %w)", len(failed), len(items), failed[0])
}

// translateAll translates items with workers goroutines, each decoding,
// submitting one image and encoding its result: while the engine runs one
// batch, the next images queue up and it stacks same-size ones together.
// It returns the errors, in input order, after reporting each on stderr.
func translateAll(ctx context.Context, eng *infer.Engine, m *infer.Model, items []translateItem, workers, quality int,
	upright bool, bar *progress.Bar, stderr io.Writer) []error {
	errs := make([]error, len(items))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(items)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := translateOne(ctx, eng, m, items[i], quality, upright)
				mu.Lock()
				errs[i] = err
				if err != nil {
					if bar != nil {
						bar.Clear()
					}
					fmt.Fprintf(stderr, "skip %s: %v\n", items[i].in, err)
				}
				if bar != nil {
					bar.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// translateOne translates one file: decoded and scaled as the
// generator's input domain was in training, and written either as the
// reference's 8-bit image in the output's format or, for outputs on the
// data's scale, through the output domain's range as tif, npy or png.
func translateOne(ctx context.Context, eng *infer.Engine, m *infer.Model, it translateItem, quality int, upright bool) error {
	if m.TakesLabels() {
		return translateLabels(ctx, eng, m, it, quality)
	}
	if it.inst != "" {
		return fmt.Errorf("--inst: model %s takes no instance maps", m.Name)
	}
	if streamable(eng, m, it.in) {
		return translateStream(ctx, eng, m, it)
	}
	raw, err := os.ReadFile(it.in)
	if err != nil {
		return fmt.Errorf("read image: %w", err)
	}
	img, err := data.DecodeSide(raw, it.in, m.In, data.DepthFull)
	if err != nil {
		return err
	}
	if upright {
		o, err := exif.FileOrientation(it.in)
		if err != nil {
			return err
		}
		img = exif.Apply(img, o)
	}
	if err := os.MkdirAll(filepath.Dir(it.out), 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	if m.Out.Reference {
		out, err := eng.Translate(ctx, m, []*data.Image{img})
		if err != nil {
			return fmt.Errorf("%s: %w", it.in, err)
		}
		path := it.out
		if !it.formatGiven && m.In.NeedsRaster(raw) {
			// An 8-bit grey or RGB image made from data on their own
			// scale (a band TIFF, a .npy) is written as the PNG its
			// domain's training files were, not in the input's kind.
			path = strings.TrimSuffix(path, filepath.Ext(path)) + ".png"
		}
		return data.SaveImageQuality(path, out[0], quality)
	}
	a, err := m.Prepare(img, false)
	if err != nil {
		return fmt.Errorf("%s: %w", it.in, err)
	}
	out, err := eng.Run(ctx, m, []infer.Array{a})
	if err != nil {
		return fmt.Errorf("%s: %w", it.in, err)
	}
	_, err = m.Out.Write(strings.TrimSuffix(it.out, filepath.Ext(it.out)), out[0].Data, out[0].C, out[0].H, out[0].W)
	return err
}

// translateLabels translates a label map (and its instance map) with a
// label-map generator, writing an image.
func translateLabels(ctx context.Context, eng *infer.Engine, m *infer.Model, it translateItem, quality int) error {
	raw, err := os.ReadFile(it.in)
	if err != nil {
		return fmt.Errorf("read label map: %w", err)
	}
	var inst []byte
	if it.inst != "" {
		if inst, err = os.ReadFile(it.inst); err != nil {
			return fmt.Errorf("read instance map: %w", err)
		}
	}
	a, err := m.PrepareLabels(raw, it.in, inst, it.inst)
	if err != nil {
		return err
	}
	out, err := eng.Run(ctx, m, []infer.Array{a})
	if err != nil {
		return fmt.Errorf("%s: %w", it.in, err)
	}
	if err := os.MkdirAll(filepath.Dir(it.out), 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	if !m.Out.Reference {
		_, err = m.Out.Write(strings.TrimSuffix(it.out, filepath.Ext(it.out)), out[0].Data, out[0].C, out[0].H, out[0].W)
		return err
	}
	img, err := m.Output(a, out[0])
	if err != nil {
		return err
	}
	return data.SaveImageQuality(it.out, img, quality)
}

// pairInstances gives each item its instance map: inst itself when it is
// a file (one input), else the file in folder inst whose name without
// extension is the input's.
func pairInstances(items []translateItem, inst string) error {
	st, err := os.Stat(inst)
	if err != nil {
		return fmt.Errorf("--inst: %w", err)
	}
	if !st.IsDir() {
		if len(items) != 1 {
			return fmt.Errorf("--inst %s is one file for %d inputs: give a folder of instance maps named as the inputs", inst, len(items))
		}
		items[0].inst = inst
		return nil
	}
	entries, err := os.ReadDir(inst)
	if err != nil {
		return fmt.Errorf("--inst: %w", err)
	}
	byStem := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			n := e.Name()
			byStem[strings.TrimSuffix(n, filepath.Ext(n))] = filepath.Join(inst, n)
		}
	}
	for i := range items {
		b := filepath.Base(items[i].in)
		p, ok := byStem[strings.TrimSuffix(b, filepath.Ext(b))]
		if !ok {
			return fmt.Errorf("--inst %s has no instance map for %s (a file named %s.*)", inst, items[i].in, strings.TrimSuffix(b, filepath.Ext(b)))
		}
		items[i].inst = p
	}
	return nil
}

// streamable reports whether a file is translated a band of rows at a
// time, in memory bounded by the tile size: with --tile, a TIFF input on
// its own scale (its channels, its declared range) whose output is
// written as TIFF, without a test-time preprocessing step.
func streamable(eng *infer.Engine, m *infer.Model, path string) bool {
	if eng.Config().Tile <= 0 || m.Preprocess != nil || m.In.Reference() || m.Out.Reference || m.Out.Format != raster.TIFF {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	return raster.Sniff(head[:n]) == raster.TIFF
}

// translateStream translates a TIFF a band of rows at a time: rows are
// read (raster.TIFFReader), scaled by the input domain's range (the
// run's, never the tile's), translated as overlapping tiles blended
// linearly (Engine.RunBands), mapped back to the output domain's scale and
// written (raster.TIFFWriter) as they are finished.
func translateStream(ctx context.Context, eng *infer.Engine, m *infer.Model, it translateItem) error {
	rd, err := raster.OpenTIFF(it.in)
	if err != nil {
		return fmt.Errorf("%s: %w", it.in, err)
	}
	defer rd.Close()
	if rd.C != m.Spec.InputNC {
		return fmt.Errorf("%s holds %d channels of %dx%d %s samples but the generator takes %d (--%s)", it.in, rd.C, rd.W, rd.H, rd.DType, m.Spec.InputNC, m.In.NCFlag)
	}
	sc, err := m.In.Scale(rd.DType, rd.C)
	if err != nil {
		return fmt.Errorf("%s: %w", it.in, err)
	}
	if err := os.MkdirAll(filepath.Dir(it.out), 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	path := strings.TrimSuffix(it.out, filepath.Ext(it.out)) + raster.TIFF.Ext()
	wr, err := raster.CreateTIFF(path, rd.W, rd.H, m.Spec.OutputNC, m.Out.DType)
	if err != nil {
		return err
	}
	read := func(y0, y1 int) (infer.Array, error) {
		r, err := rd.ReadRows(y0, y1)
		if err != nil {
			return infer.Array{}, err
		}
		img, err := sc.ToUnit(r)
		if err != nil {
			return infer.Array{}, err
		}
		return m.Prepare(img, false)
	}
	write := func(y0 int, out infer.Array) error {
		r, err := m.Out.Scale.FromSigned(out.Data, out.C, out.H, out.W, m.Out.DType)
		if err != nil {
			return err
		}
		return wr.WriteRows(y0, r)
	}
	if err := eng.RunBands(ctx, m, rd.H, rd.W, read, write); err != nil {
		wr.Close() // unfinished: discarded
		return fmt.Errorf("%s: %w", it.in, err)
	}
	return wr.Close()
}

// translateItems lists the files to translate and where each goes. One
// folder maps onto the output folder; with several inputs each folder gets
// a subfolder of its own name. ext, when set, replaces the extensions.
func translateItems(inputs []string, outDir, ext string) ([]translateItem, error) {
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	var items []translateItem
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("input %s does not exist", in)
			}
			return nil, fmt.Errorf("input: %w", err)
		}
		if !st.IsDir() {
			items = append(items, translateItem{in: in, out: filepath.Join(outDir, filepath.Base(in))})
			continue
		}
		files, err := data.MakeDataset(in, 0)
		if err != nil {
			return nil, err
		}
		base := outDir
		if len(inputs) > 1 {
			base = filepath.Join(outDir, filepath.Base(filepath.Clean(in)))
		}
		n := 0
		for _, f := range files {
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(abs, absOut+string(filepath.Separator)) {
				continue // results of an earlier run inside the input folder
			}
			rel, err := filepath.Rel(in, f)
			if err != nil {
				return nil, err
			}
			items = append(items, translateItem{in: f, out: filepath.Join(base, rel)})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("input folder %s has no images (%s)", in, strings.Join(data.ImageExtensions, ", "))
		}
	}
	seen := map[string]string{}
	for i := range items {
		if ext != "" {
			items[i].out = strings.TrimSuffix(items[i].out, filepath.Ext(items[i].out)) + ext
			items[i].formatGiven = true
		}
		absIn, _ := filepath.Abs(items[i].in)
		absO, _ := filepath.Abs(items[i].out)
		if absIn == absO {
			return nil, fmt.Errorf("the output for %s would overwrite it: choose another --output or --format", items[i].in)
		}
		if prev, ok := seen[absO]; ok {
			return nil, fmt.Errorf("%s and %s would both be written to %s", prev, items[i].in, items[i].out)
		}
		seen[absO] = items[i].in
	}
	return items, nil
}

// splitPositional separates arguments that are not flags (input files)
// from the flags, which options.Set.Parse would refuse after them. It asks
// the command's option set which flags are switches (take no value).
func splitPositional(cmd string, own []options.Def, args []string) (flags, positional []string, err error) {
	var probeArgs []string
	if v, ok := options.ScanValue(args, "model"); ok {
		probeArgs = []string{"--model=" + v}
	}
	probe, err := infer.OptionSet(cmd, own, probeArgs, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	values := probe.Map()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...), nil
		case !strings.HasPrefix(a, "-") || a == "-":
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if _, isBool := values[name].(bool); isBool || !probe.Has(name) || i+1 >= len(args) {
				continue
			}
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional, nil
}

func translateChannels(c int) string {
	switch c {
	case 1:
		return "grey"
	case 3:
		return "RGB"
	}
	return fmt.Sprintf("%d-channel", c)
}

// translateIsTerminal reports whether w is a character device (a terminal), where
// a progress bar is wanted; logs and pipes get the summary line only.
func translateIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
