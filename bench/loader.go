package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// The loader suite times what a dataset does with each scientific image
// before the transforms: read a multi-channel 16-bit TIFF, decode it, and
// map its values by the domain's declared range to [-1, 1] as a float32
// C×H×W array; cyclepix through data.DecodeSide and Image.Tensor (what the
// dataset modes call), Python through tifffile and NumPy (bench/loader.py)
// on the same files in the same order. Each side runs in its own process,
// on the same number of threads, and reports per-image seconds, its peak
// RSS, and a checksum of the first image's array that shows both computed
// the same values.

// The loader suite's samples: loaderChannels pages of uint16 in a 12-bit
// camera's range, scaled by loaderRange (what --range_A 0:4095 declares).
const (
	loaderChannels = 4
	loaderRange    = "0:4095"
)

// loaderKinds are the stored variants -tiffs chooses among: raw is what
// raster.WriteTIFF writes (one uncompressed page per channel, in strips);
// the others are the same pixels rewritten by tifffile with
// compression='zlib' (deflate), zlib-pred with the horizontal predictor
// too.
var loaderKinds = []string{"raw", "zlib", "zlib-pred"}

// loaderSuite writes images TIFF files of each size and kind to a
// temporary folder and times both sides on them.
func loaderSuite(sizes string, images, steps, threads int, python, kinds string) error {
	ks, err := pickList("-tiffs", kinds, loaderKinds)
	if err != nil {
		return err
	}
	if len(ks) == 0 || images < 1 {
		return fmt.Errorf("-tiffs %q, -images %d: nothing to time", kinds, images)
	}
	fmt.Printf("Loader: %d %d-channel uint16 TIFF files (a page per channel) read, decoded and scaled by range %s to [-1, 1] float32 C×H×W, %d thread(s), median of %d passes\n",
		images, loaderChannels, loaderRange, threads, steps)
	fmt.Println("cyclepix: os.ReadFile, data.DecodeSide (libtiff), Image.Tensor; python: tifffile.imread, astype(float32), (x-lo)/(hi-lo), clip to [0, 1], *2-1")
	fmt.Printf("%-10s %-10s %8s %14s %12s %8s %20s %20s\n", "tiff", "size", "MB/file", "cyclepix im/s", "python im/s", "speedup", "cyclepix RSS (base)", "python RSS (base)")
	var notes []string
	for _, size := range splitInts(sizes) {
		dir, err := os.MkdirTemp("", "cyclepix-bench-loader-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		raw := filepath.Join(dir, "raw")
		if err := writeLoaderTIFFs(raw, size, images); err != nil {
			return err
		}
		for _, kind := range ks {
			files := raw
			if kind != "raw" {
				if python == "" {
					notes = append(notes, fmt.Sprintf("%s %d: not run (tifffile writes these files; -python is empty)", kind, size))
					continue
				}
				files = filepath.Join(dir, kind)
				if err := compressLoaderTIFFs(python, kind, raw, files); err != nil {
					return err
				}
			}
			ours, err := runChild("-tiffdir", files, steps, threads)
			if err != nil {
				return err
			}
			ref, err := runScript(python, "loader.py", fmt.Sprintf("%s %s", files, strings.ReplaceAll(loaderRange, ":", " ")), steps, threads)
			if err != nil {
				return err
			}
			mb := loaderFileMB(files)
			rss := func(r *result) string { return fmt.Sprintf("%d (%d) MB", r.PeakRSSKB/1024, r.BaseRSSKB/1024) }
			refRate, speedup, refRSS := "-", "-", "-"
			if ref != nil {
				refRate = fmt.Sprintf("%.2f", 1/median(ref.Times))
				speedup = fmt.Sprintf("%.2f", median(ref.Times)/median(ours.Times))
				refRSS = rss(ref)
				if n := checkNote(fmt.Sprintf("%s %d", kind, size), ours, ref); n != "" {
					notes = append(notes, n)
				}
				if ref.Engine != "" && !slices.Contains(notes, "python: "+ref.Engine) {
					notes = append(notes, "python: "+ref.Engine)
				}
			}
			fmt.Printf("%-10s %-10s %8.1f %14.2f %12s %8s %20s %20s\n", kind, fmt.Sprintf("%d×%d", size, size), mb, 1/median(ours.Times), refRate, speedup, rss(ours), refRSS)
		}
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Println("speedup = cyclepix images/s / Python's (above 1 is faster); RSS: each process's peak (VmHWM), in parentheses its RSS before the first file")
	return nil
}

// writeLoaderTIFFs writes n size×size uint16 images of loaderChannels
// pages with raster.WriteTIFF: smooth fields (a different frequency per
// channel) with noise, as a microscope's frames, and one sample in 1000
// above the range's top (hot pixels, clipped by the scaling).
func writeLoaderTIFFs(dir string, size, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, uint64(size)))
	xs, ys := make([]float64, size), make([]float64, size)
	for i := 0; i < n; i++ {
		r := raster.New(size, size, loaderChannels, raster.Uint16)
		for c := 0; c < loaderChannels; c++ {
			fx, fy := float64(c+1+i%3)/97, float64(c+2)/61
			for k := range xs {
				xs[k], ys[k] = math.Sin(float64(k)*fx), math.Cos(float64(k)*fy)
			}
			plane := r.Plane(c)
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					v := 1400 + 300*float64(c) + 1100*xs[x]*ys[y] + float64(rng.IntN(81)-40)
					if rng.IntN(1000) == 0 {
						v = 4095 + float64(rng.IntN(8000))
					}
					plane[y*size+x] = float32(max(0, min(65535, math.Round(v))))
				}
			}
		}
		if err := raster.WriteTIFF(filepath.Join(dir, fmt.Sprintf("img%03d.tif", i)), r); err != nil {
			return err
		}
	}
	return nil
}

// compressLoaderTIFFs rewrites every TIFF of src into dst as tifffile
// writes it compressed (bench/loader.py compress).
func compressLoaderTIFFs(python, kind, src, dst string) error {
	cmd := exec.Command(python, filepath.Join(sourceDir(), "loader.py"), "compress", kind, src, dst)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("python side: write %s files: %w", kind, err)
	}
	return nil
}

// loaderFiles lists a folder's TIFF files in the order both sides read
// them (sorted by name).
func loaderFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tif"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("-tiffdir %s: no .tif file", dir)
	}
	slices.Sort(files)
	return files, nil
}

// loaderFileMB is the mean size of a folder's TIFF files in MB.
func loaderFileMB(dir string) float64 {
	files, _ := loaderFiles(dir)
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	return float64(total) / float64(max(1, len(files))) / 1e6
}

// loaderCyclepix times cyclepix's side on the TIFF files of dir: one
// untimed pass over them, then steps timed passes, each reporting its
// seconds per image. threads bounds the Go scheduler (GOMAXPROCS, so the
// garbage collector shares those threads too); decoding a file is one
// goroutine's work.
func loaderCyclepix(dir string, steps, threads int) (*result, error) {
	runtime.GOMAXPROCS(threads)
	files, err := loaderFiles(dir)
	if err != nil {
		return nil, err
	}
	base := vmKB("self", "VmRSS")
	side := data.Side{Name: "A", NC: loaderChannels, NCFlag: "input_nc", RangeFlag: "range_A", Range: loaderRange}
	load := func(path string) ([]float32, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		img, err := data.DecodeSide(b, path, side, data.DepthFull)
		if err != nil {
			return nil, err
		}
		return img.Tensor(), nil
	}
	first, err := load(files[0])
	if err != nil {
		return nil, err
	}
	check := checksum(first)
	first = nil
	var times []float64
	for pass := 0; pass < steps+1; pass++ {
		start := time.Now()
		for _, f := range files {
			if _, err := load(f); err != nil {
				return nil, err
			}
		}
		if pass >= 1 {
			times = append(times, time.Since(start).Seconds()/float64(len(files)))
		}
	}
	return &result{Times: times, PeakRSSKB: vmKB("self", "VmHWM"), BaseRSSKB: base, Check: check}, nil
}

// checksum is the sum and the sum of squares of an array's values, in
// float64, in order: what checkNote compares between the two sides.
func checksum(v []float32) []float64 {
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	return []float64{s, s2}
}

// checkNote says when the two sides' checksums of the first image differ
// by more than summation order explains (1e-9 of the values' count).
func checkNote(row string, ours, ref *result) string {
	if len(ours.Check) != 2 || len(ref.Check) != 2 {
		return ""
	}
	if math.Abs(ours.Check[0]-ref.Check[0]) > 1e-9*math.Abs(ref.Check[1])+1e-6 || math.Abs(ours.Check[1]-ref.Check[1]) > 1e-9*math.Abs(ref.Check[1]) {
		return fmt.Sprintf("note: %s: the first image's sum and sum of squares differ: cyclepix %v, python %v: the sides do not compute the same arrays", row, ours.Check, ref.Check)
	}
	return ""
}

// vmKB reads a kB line (VmRSS, VmHWM) of /proc/PROC/status, PROC "self"
// or a child's pid: the peak of that process's own memory, which, unlike
// getrusage's, does not start from its parent's (see runORT); 0 if unknown.
func vmKB(proc, key string) int64 {
	f, err := os.Open("/proc/" + proc + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
