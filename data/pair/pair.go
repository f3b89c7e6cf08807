// Package pair builds pix2pix training pairs (A|B side-by-side images, the
// aligned dataset mode's input) from separate A and B folders: Combine is
// the reference's datasets/combine_A_and_B.py, Align its
// datasets/make_dataset_aligned.py.
package pair

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"cyclepix/data"
	"cyclepix/data/progress"
)

// Concat places a and b side by side (a on the left). Both must have the
// same height; grey becomes RGB, as OpenCV's imread(…, IMREAD_COLOR) in
// the reference. If either is 16-bit the result keeps float samples.
func Concat(a, b *data.Image) (*data.Image, error) {
	if a.H != b.H {
		return nil, fmt.Errorf("heights differ (%d and %d)", a.H, b.H)
	}
	a, b = a.RGB(), b.RGB()
	if a.HighDepth() != b.HighDepth() {
		a, b = toFloat(a), toFloat(b)
	}
	w := a.W + b.W
	out := &data.Image{W: w, H: a.H, C: 3}
	if a.HighDepth() {
		out.Float = make([]float32, w*a.H*3)
	} else {
		out.Pix = make([]uint8, w*a.H*3)
	}
	for y := 0; y < a.H; y++ {
		if a.HighDepth() {
			copy(out.Float[y*w*3:], a.Float[y*a.W*3:(y+1)*a.W*3])
			copy(out.Float[(y*w+a.W)*3:], b.Float[y*b.W*3:(y+1)*b.W*3])
		} else {
			copy(out.Pix[y*w*3:], a.Pix[y*a.W*3:(y+1)*a.W*3])
			copy(out.Pix[(y*w+a.W)*3:], b.Pix[y*b.W*3:(y+1)*b.W*3])
		}
	}
	return out, nil
}

func toFloat(m *data.Image) *data.Image {
	if m.HighDepth() {
		return m
	}
	out := &data.Image{W: m.W, H: m.H, C: m.C, Float: make([]float32, len(m.Pix))}
	for i, v := range m.Pix {
		out.Float[i] = float32(v) / 255
	}
	return out
}

// job is one pair to write; sameSize demands equal sizes, not only
// heights (make_dataset_aligned.py asserts it).
type job struct {
	a, b, out string
	sameSize  bool
}

// writePair loads a and b, joins them and saves the result.
func writePair(j job, quality int) error {
	a, err := data.LoadImage(j.a)
	if err != nil {
		return err
	}
	b, err := data.LoadImage(j.b)
	if err != nil {
		return err
	}
	if j.sameSize && a.W != b.W || a.H != b.H {
		what := "heights"
		if j.sameSize {
			what = "sizes"
		}
		return fmt.Errorf("cannot pair %s (%dx%d) with %s (%dx%d): %s differ", j.a, a.W, a.H, j.b, b.W, b.H, what)
	}
	ab, err := Concat(a, b)
	if err != nil {
		return err
	}
	return data.SaveImageQuality(j.out, ab, quality)
}

// run writes the jobs with the given number of goroutines, stopping at the
// first error or when ctx is cancelled.
func run(ctx context.Context, jobs []job, threads, quality int, bar *progress.Bar) error {
	return progress.Each(ctx, len(jobs), threads, bar, func(i int) error { return writePair(jobs[i], quality) })
}

// listImages lists the image files directly in dir (not recursively),
// sorted by name.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && data.IsImageFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// CombineOptions are combine_A_and_B.py's flags.
type CombineOptions struct {
	FoldA, FoldB, FoldAB string // --fold_A, --fold_B, --fold_AB
	NumImgs              int    // --num_imgs per split; 0 means the reference's 1000000
	UseAB                bool   // --use_AB: pair 0001_A.x with 0001_B.x into 0001.x
	NoMultiprocessing    bool   // --no_multiprocessing: one goroutine
	// Progress receives the progress bar, Log one line per split and
	// warnings (nil: silent).
	Progress, Log io.Writer
}

// CombineReport says what Combine did.
type CombineReport struct {
	Splits  []string
	Written int
	// Missing lists A images without a B partner, which the reference
	// skips silently; they are reported here and in the log.
	Missing []string
}

// Combine pairs the same-named images of FoldA/<split> and FoldB/<split>
// into FoldAB/<split> for every split folder of FoldA (train, val, test,
// …). Output files keep A's name and format (JPEG at quality 95, OpenCV's
// default). Files are taken in name order (the reference uses directory
// order), so --num_imgs keeps the same images on every machine.
func Combine(ctx context.Context, o CombineOptions) (CombineReport, error) {
	var rep CombineReport
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if o.FoldA == "" || o.FoldB == "" || o.FoldAB == "" {
		return rep, errors.New("combine needs --fold_A, --fold_B and --fold_AB")
	}
	numImgs := o.NumImgs
	if numImgs <= 0 {
		numImgs = 1000000
	}
	entries, err := os.ReadDir(o.FoldA)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("combine: --fold_A %s does not exist (expected %s/<split>/<image> with splits such as train, val, test)", o.FoldA, o.FoldA)
		}
		return rep, fmt.Errorf("combine: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			rep.Splits = append(rep.Splits, e.Name())
		}
	}
	if len(rep.Splits) == 0 {
		return rep, fmt.Errorf("combine: --fold_A %s has no split folders (expected %s/train, %s/test, …)", o.FoldA, o.FoldA, o.FoldA)
	}
	var jobs []job
	for _, sp := range rep.Splits {
		dirA, dirB, dirAB := filepath.Join(o.FoldA, sp), filepath.Join(o.FoldB, sp), filepath.Join(o.FoldAB, sp)
		if st, err := os.Stat(dirB); err != nil || !st.IsDir() {
			return rep, fmt.Errorf("combine: --fold_B %s has no %s folder to pair with %s", o.FoldB, sp, dirA)
		}
		names, err := listImages(dirA)
		if err != nil {
			return rep, fmt.Errorf("combine: %w", err)
		}
		if o.UseAB {
			kept := names[:0]
			for _, n := range names {
				if strings.Contains(n, "_A.") {
					kept = append(kept, n)
				}
			}
			names = kept
		}
		n := min(numImgs, len(names))
		fmt.Fprintf(log, "split = %s, use %d/%d images\n", sp, n, len(names))
		if err := os.MkdirAll(dirAB, 0o755); err != nil {
			return rep, fmt.Errorf("combine: %w", err)
		}
		for _, nameA := range names[:n] {
			nameB, nameAB := nameA, nameA
			if o.UseAB {
				nameB = strings.Replace(nameA, "_A.", "_B.", 1)
				nameAB = strings.Replace(nameA, "_A.", ".", 1)
			}
			pathB := filepath.Join(dirB, nameB)
			if st, err := os.Stat(pathB); err != nil || st.IsDir() {
				rep.Missing = append(rep.Missing, filepath.Join(dirA, nameA))
				continue
			}
			jobs = append(jobs, job{a: filepath.Join(dirA, nameA), b: pathB, out: filepath.Join(dirAB, nameAB)})
		}
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintf(log, "warning: %d A images have no B image of the same name and were not combined (first: %s)\n", len(rep.Missing), rep.Missing[0])
	}
	threads := runtime.NumCPU()
	if o.NoMultiprocessing {
		threads = 1
	}
	bar := progress.Count(o.Progress, len(jobs), "combine", "img")
	defer bar.Finish()
	if err := run(ctx, jobs, threads, 95, bar); err != nil {
		return rep, fmt.Errorf("combine: %w", err)
	}
	rep.Written = len(jobs)
	return rep, nil
}

// AlignReport says what Align wrote.
type AlignReport struct {
	Phases  []string // phases written (test, train)
	Written int
}

// Align is make_dataset_aligned.py: for each phase (test, train) with
// folders <dir>/<phase>A and <dir>/<phase>B holding the same number of
// images, it pairs them in sorted order and writes <dir>/<phase>/%04d.jpg
// A|B images (JPEG quality 75, PIL's default). A and B images of a pair
// must have the same size.
func Align(ctx context.Context, dir string, progressW io.Writer) (AlignReport, error) {
	var rep AlignReport
	var jobs []job
	for _, phase := range []string{"test", "train"} {
		dirA, dirB := filepath.Join(dir, phase+"A"), filepath.Join(dir, phase+"B")
		a, errA := listImages(dirA)
		b, errB := listImages(dirB)
		if errors.Is(errA, fs.ErrNotExist) && errors.Is(errB, fs.ErrNotExist) {
			continue
		}
		if errA != nil {
			return rep, fmt.Errorf("align: %s: %w", phase+"A", errA)
		}
		if errB != nil {
			return rep, fmt.Errorf("align: %s: %w", phase+"B", errB)
		}
		if len(a) != len(b) {
			return rep, fmt.Errorf("align: %s has %d images but %s has %d; pairs are made in sorted order, so the counts must match", dirA, len(a), dirB, len(b))
		}
		out := filepath.Join(dir, phase)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return rep, fmt.Errorf("align: %w", err)
		}
		for i := range a {
			jobs = append(jobs, job{a: filepath.Join(dirA, a[i]), b: filepath.Join(dirB, b[i]), out: filepath.Join(out, fmt.Sprintf("%04d.jpg", i)), sameSize: true})
		}
		rep.Phases = append(rep.Phases, phase)
	}
	if len(rep.Phases) == 0 {
		return rep, fmt.Errorf("align: %s has none of testA/testB, trainA/trainB (expected <dataset-path>/trainA, trainB, testA, testB)", dir)
	}
	bar := progress.Count(progressW, len(jobs), "align", "img")
	defer bar.Finish()
	if err := run(ctx, jobs, runtime.NumCPU(), 75, bar); err != nil {
		return rep, fmt.Errorf("align: %w", err)
	}
	rep.Written = len(jobs)
	return rep, nil
}
