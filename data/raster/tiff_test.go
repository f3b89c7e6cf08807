package raster

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// tiffPyCases writes, into argv[1], one file per layout tifffile
// produces, NAME.tif, with the (C,H,W) array cyclepix should read from it
// as NAME.f64 (little-endian float64) and manifest.json listing them.
const tiffPyCases = `
import json, os, sys, warnings
import numpy as np, tifffile
warnings.simplefilter('ignore')
out = sys.argv[1]
rng = np.random.default_rng(7)
H, W = 7, 9
man = []

def vals(dt, shape):
    dt = np.dtype(dt)
    if dt.kind == 'f':
        a = rng.standard_normal(shape) * 1000
        a.flat[0] = -0.0
        a.flat[-1] = 1e-7
        return a.astype(dt)
    info = np.iinfo(dt)
    a = rng.integers(int(info.min), int(info.max), size=shape, endpoint=True, dtype=np.int64)
    a.flat[0] = info.min
    a.flat[-1] = info.max
    return a.astype(dt)

def case(name, a, expected, **kw):
    tifffile.imwrite(os.path.join(out, name + '.tif'), a, **kw)
    expected = np.asarray(expected)
    expected.astype('<f8').tofile(os.path.join(out, name + '.f64'))
    man.append(dict(name=name, shape=list(expected.shape), dtype=expected.dtype.name))

for dt in ['uint8', 'uint16', 'int16', 'uint32', 'float32', 'float64']:
    for c in [1, 2, 5]:
        a = vals(dt, (c, H, W))
        case('chw_%s_%d' % (dt, c), a, a)
a = vals('uint8', (3, H, W)); case('planar_rgb_uint8', a, a)
a = vals('uint16', (4, H, W)); case('planar_rgba_uint16', a, a)
a = vals('uint8', (H, W, 3)); case('contig_rgb_uint8', a, a.transpose(2, 0, 1))
a = vals('uint16', (H, W, 4)); case('contig_rgba_uint16', a, a.transpose(2, 0, 1), photometric='rgb')
a = vals('uint16', (5, H, W)); case('minisblack_separate', a, a, photometric='minisblack', planarconfig='separate')
a = vals('float32', (H, W, 2)); case('minisblack_contig_extra', a, a.transpose(2, 0, 1), photometric='minisblack', planarconfig='contig')
a = vals('uint16', (12, W, 2)); case('hwc_2', a, a.transpose(2, 0, 1))
a = vals('int16', (12, W, 5)); case('hwc_5', a, a.transpose(2, 0, 1))
a = vals('uint16', (2, 3, H, W)); case('ome_zcyx.ome', a, a[0], metadata={'axes': 'ZCYX'})
a = vals('uint16', (3, 2, H, W)); case('ome_ctyx.ome', a, a[:, 0], metadata={'axes': 'CTYX'})
a = vals('float32', (2, 2, 3, H, W)); case('ome_tzcyx.ome', a, a[0, 0], metadata={'axes': 'TZCYX'})
a = vals('uint8', (2, H, W, 3)); case('ome_rgb.ome', a, a[0].transpose(2, 0, 1), photometric='rgb', metadata={'axes': 'ZYXS'})
a = vals('uint16', (2, 3, H, W)); case('imagej_zcyx', a, a[0], imagej=True, metadata={'axes': 'ZCYX'})
a = vals('float32', (2, 2, 3, H, W)); case('imagej_tzcyx', a, a[0, 0], imagej=True, metadata={'axes': 'TZCYX'})
a = vals('uint16', (2, 70, 90)); case('zlib', a, a, compression='zlib', rowsperstrip=16)
a = vals('float32', (5, H, W)); case('lzma', a, a, compression='lzma')
a = vals('uint16', (2, 70, 90)); case('tiled', a, a, tile=(32, 32))
a = vals('float32', (5, 70, 90)); case('tiled_zlib', a, a, tile=(16, 32), compression='zlib')
a = vals('uint8', (70, 90, 3)); case('tiled_contig_rgb', a, a.transpose(2, 0, 1), tile=(32, 32))
a = vals('uint16', (4, 70, 90)); case('tiled_planar_rgba', a, a, tile=(32, 16))
for dt in ['uint16', 'int16', 'uint32', 'float32', 'float64']:
    a = vals(dt, (2, H, W)); case('be_' + dt, a, a, byteorder='>')
a = vals('uint16', (H, W, 3)); case('be_contig_rgb', a, a.transpose(2, 0, 1), byteorder='>')
a = vals('uint16', (2, 70, 90)); case('be_zlib', a, a, byteorder='>', compression='zlib')
a = vals('float32', (2, 70, 90)); case('be_tiled', a, a, byteorder='>', tile=(32, 32))
a = vals('uint16', (2, H, W)); case('bigtiff', a, a, bigtiff=True)
a = vals('float32', (5, H, W)); case('bigtiff_be', a, a, bigtiff=True, byteorder='>')
a = vals('uint16', (2, 70, 90)); case('bigtiff_tiled_zlib', a, a, bigtiff=True, tile=(32, 32), compression='zlib')
a = vals('uint16', (2, 70, 90)); case('strips', a, a, rowsperstrip=8)
a = vals('uint16', (4, 70, 90)); case('strips_planar_rgba', a, a, rowsperstrip=16)
a = vals('int16', (2, 70, 90)); case('be_strips', a, a, rowsperstrip=9, byteorder='>')
json.dump(man, open(os.path.join(out, 'manifest.json'), 'w'))
`

type tiffPyCase struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

func TestTIFFReadsTifffile(t *testing.T) {
	testsupport.NeedPythonLong(t, "tifffile", "numpy")
	dir := t.TempDir()
	testsupport.RunPython(t, tiffPyCases, dir)
	var cases []tiffPyCase
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for _, c := range cases {
		want[c.Name] = tiffReadF64(t, filepath.Join(dir, c.Name+".f64"))
		t.Run(c.Name, func(t *testing.T) {
			tiffCheckFile(t, filepath.Join(dir, c.Name+".tif"), c, want[c.Name])
		})
	}
	// libtiff-tools rewrite some of them in the compressions and layouts
	// tifffile cannot write without imagecodecs.
	tiffcp, err := exec.LookPath("tiffcp")
	if err != nil {
		t.Log("tiffcp not found: LZW, ZSTD, PackBits and predictor files untested")
		return
	}
	byName := map[string]tiffPyCase{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	for _, tc := range []struct {
		src  string
		args []string
	}{
		{"chw_uint16_5", []string{"-c", "lzw"}},
		{"chw_uint16_5", []string{"-c", "lzw:2"}},
		{"chw_uint8_2", []string{"-c", "packbits"}},
		{"chw_int16_5", []string{"-c", "zip:2"}},
		{"chw_float32_2", []string{"-c", "zip:3"}},
		{"chw_float64_2", []string{"-c", "lzw:3"}},
		{"chw_uint32_5", []string{"-c", "zstd"}},
		{"chw_float32_5", []string{"-c", "lzma"}},
		{"contig_rgb_uint8", []string{"-c", "lzw", "-p", "separate"}},
		{"planar_rgb_uint8", []string{"-p", "contig", "-c", "zstd:2"}},
		{"tiled", []string{"-s", "-r", "5", "-c", "lzw"}},
		{"strips", []string{"-t", "-w", "16", "-l", "48", "-c", "packbits"}},
		{"hwc_5", []string{"-c", "lzw"}},
		{"zlib", []string{"-B", "-c", "lzw:2"}},
		{"chw_uint16_2", []string{"-8", "-B", "-c", "zstd"}},
	} {
		name := tc.src + strings.ReplaceAll(strings.Join(tc.args, ""), ":", "_")
		t.Run("tiffcp_"+name, func(t *testing.T) {
			dst := filepath.Join(dir, "tiffcp_"+name+".tif")
			cmd := exec.Command(tiffcp, append(append([]string{}, tc.args...), filepath.Join(dir, tc.src+".tif"), dst)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("tiffcp %v: %v\n%s", tc.args, err, out)
			}
			tiffCheckFile(t, dst, byName[tc.src], want[tc.src])
		})
	}
}

func tiffReadF64(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/8)
	for i := range v {
		v[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
	}
	return v
}

// tiffCheckFile reads path whole and in bands and compares both with the
// expected (C,H,W) values.
func tiffCheckFile(t *testing.T, path string, c tiffPyCase, want []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeTIFF(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.C != c.Shape[0] || r.H != c.Shape[1] || r.W != c.Shape[2] || r.DType.String() != c.DType {
		t.Fatalf("read %s, want %v %s", r.Shape(), c.Shape, c.DType)
	}
	tiffSameValues(t, r.Data, want)
	tiffCheckBands(t, path, r)
}

func tiffSameValues(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d is %v, want %v", i, got[i], want[i])
		}
	}
}

// tiffCheckBands reads path band by band (bands of 1, 3 and all rows, in
// order and out of order) and compares with the whole raster.
func tiffCheckBands(t *testing.T, path string, whole *Raster) {
	t.Helper()
	tr, err := OpenTIFF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.W != whole.W || tr.H != whole.H || tr.C != whole.C || tr.DType != whole.DType {
		t.Fatalf("OpenTIFF says %d×%d×%d %s, DecodeTIFF %s", tr.C, tr.H, tr.W, tr.DType, whole.Shape())
	}
	check := func(y0, y1 int) {
		band, err := tr.ReadRows(y0, y1)
		if err != nil {
			t.Fatal(err)
		}
		if band.H != y1-y0 || band.W != whole.W || band.C != whole.C {
			t.Fatalf("rows %d to %d: %s", y0, y1, band.Shape())
		}
		for c := 0; c < whole.C; c++ {
			tiffSameValues(t, band.Plane(c), whole.Plane(c)[y0*whole.W:y1*whole.W])
		}
	}
	for _, step := range []int{3, 1, whole.H} {
		for y := 0; y < whole.H; y += step {
			check(y, min(y+step, whole.H))
		}
	}
	check(whole.H-1, whole.H)
	check(0, 1)
	if whole.H > 4 {
		check(whole.H/2, whole.H/2+2)
		check(1, 4)
	}
}

// tiffTestRaster has values that exercise a type: negative, fractional and
// out-of-range ones for integers (the writer rounds and clips them).
func tiffTestRaster(w, h, c int, dt DType, seed int64) *Raster {
	rng := rand.New(rand.NewSource(seed))
	r := New(w, h, c, dt)
	lo, hi := dt.Limits()
	for i := range r.Data {
		switch {
		case !dt.Integer():
			r.Data[i] = float32(rng.NormFloat64() * 1000)
		case i%7 == 0:
			r.Data[i] = float32(lo - 3.5)
		case i%7 == 1:
			r.Data[i] = float32(hi + 2.5)
		case i%7 == 2:
			r.Data[i] = float32(math.NaN())
		default:
			r.Data[i] = float32(lo + rng.Float64()*(hi-lo))
		}
	}
	return r
}

func tiffRounded(r *Raster) []float32 {
	out := make([]float32, len(r.Data))
	for i, v := range r.Data {
		out[i] = float32(r.DType.Round(float64(v)))
	}
	return out
}

var tiffDTypes = []DType{Uint8, Uint16, Int16, Uint32, Float32, Float64}

func TestTIFFRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range tiffDTypes {
		for _, c := range []int{1, 2, 5} {
			for _, big := range []bool{false, true} {
				name := fmt.Sprintf("%s_%d_big%v", dt, c, big)
				t.Run(name, func(t *testing.T) {
					r := tiffTestRaster(13, 11, c, dt, int64(c))
					path := filepath.Join(dir, name+".tif")
					w, err := createTIFF(path, r.W, r.H, r.C, dt, big)
					if err != nil {
						t.Fatal(err)
					}
					if err := w.WriteRows(0, r); err != nil {
						t.Fatal(err)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					got, err := DecodeTIFF(b)
					if err != nil {
						t.Fatal(err)
					}
					if got.Shape() != r.Shape() {
						t.Fatalf("read %s, wrote %s", got.Shape(), r.Shape())
					}
					tiffSameValues(t, got.Data, tiffRounded(r))
					tiffCheckBands(t, path, got)
				})
			}
		}
	}
}

// TestTIFFWriteRowsAnyOrder: bands written in a shuffled order, one of
// them twice, give WriteTIFF's bytes; a file with rows missing never
// appears.
func TestTIFFWriteRowsAnyOrder(t *testing.T) {
	dir := t.TempDir()
	r := tiffTestRaster(37, 300, 3, Uint16, 1)
	whole := filepath.Join(dir, "whole.tif")
	if err := WriteTIFF(whole, r); err != nil {
		t.Fatal(err)
	}
	bands := filepath.Join(dir, "bands.tif")
	w, err := CreateTIFF(bands, r.W, r.H, r.C, Uint16)
	if err != nil {
		t.Fatal(err)
	}
	const step = 23
	var starts []int
	for y := 0; y < r.H; y += step {
		starts = append(starts, y)
	}
	rand.New(rand.NewSource(3)).Shuffle(len(starts), func(i, j int) { starts[i], starts[j] = starts[j], starts[i] })
	starts = append(starts, starts[0])
	for _, y0 := range starts {
		y1 := min(y0+step, r.H)
		band := New(r.W, y1-y0, r.C, r.DType)
		for c := 0; c < r.C; c++ {
			copy(band.Plane(c), r.Plane(c)[y0*r.W:y1*r.W])
		}
		if _, err := os.Stat(bands); err == nil {
			t.Fatal("the file appeared before Close")
		}
		if err := w.WriteRows(y0, band); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(bands)
	if !bytes.Equal(a, b) {
		t.Fatal("bands written out of order differ from WriteTIFF's file")
	}

	// Bands written by several goroutines at once.
	par := filepath.Join(dir, "parallel.tif")
	w, err = CreateTIFF(par, r.W, r.H, r.C, Uint16)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(starts))
	for _, y0 := range starts {
		go func() {
			y1 := min(y0+step, r.H)
			band := New(r.W, y1-y0, r.C, r.DType)
			for c := 0; c < r.C; c++ {
				copy(band.Plane(c), r.Plane(c)[y0*r.W:y1*r.W])
			}
			errs <- w.WriteRows(y0, band)
		}()
	}
	for range starts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ = os.ReadFile(par); !bytes.Equal(a, b) {
		t.Fatal("bands written in parallel differ from WriteTIFF's file")
	}

	// Rows missing: Close fails and leaves nothing behind.
	missing := filepath.Join(dir, "missing.tif")
	w, err = CreateTIFF(missing, 4, 10, 1, Uint8)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(0, New(4, 3, 1, Uint8)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(5, New(4, 5, 1, Uint8)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(8, New(4, 3, 1, Uint8)); err == nil {
		t.Fatal("rows past the end were accepted")
	}
	if err := w.WriteRows(0, New(5, 3, 1, Uint8)); err == nil {
		t.Fatal("a band of the wrong width was accepted")
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "rows 3 to 5") {
		t.Fatalf("Close with rows missing: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*missing*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, err := CreateTIFF(filepath.Join(dir, "x.tif"), 0, 10, 1, Uint8); err == nil {
		t.Fatal("an empty image was accepted")
	}
	if _, err := CreateTIFF(filepath.Join(dir, "x.tif"), 10, 10, MaxChannels+1, Uint8); err == nil {
		t.Fatal("too many channels were accepted")
	}
}

// tiffPyReads reads every .tif of argv[1] with tifffile.imread and
// writes NAME.json (shape, dtype) and NAME.out (values as <f8).
const tiffPyReads = `
import glob, json, os, sys
import numpy as np, tifffile
for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.tif'))):
    a = tifffile.imread(path)
    base = path[:-4]
    json.dump(dict(shape=list(a.shape), dtype=a.dtype.name), open(base + '.json', 'w'))
    a.astype('<f8').tofile(base + '.out')
`

func TestTIFFTifffileReadsWritten(t *testing.T) {
	testsupport.NeedPythonLong(t, "tifffile", "numpy")
	dir := t.TempDir()
	want := map[string]*Raster{}
	for _, dt := range tiffDTypes {
		for _, c := range []int{1, 2, 5} {
			for _, big := range []bool{false, true} {
				name := fmt.Sprintf("%s_%d_big%v", dt, c, big)
				r := tiffTestRaster(9, 7, c, dt, int64(c)+10)
				w, err := createTIFF(filepath.Join(dir, name+".tif"), r.W, r.H, r.C, dt, big)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WriteRows(0, r); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				want[name] = r
			}
		}
	}
	testsupport.RunPython(t, tiffPyReads, dir)
	for name, r := range want {
		var meta struct {
			Shape []int  `json:"shape"`
			DType string `json:"dtype"`
		}
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(meta.Shape) != fmt.Sprint([]int{r.C, r.H, r.W}) || meta.DType != r.DType.String() {
			t.Errorf("%s: tifffile reads %v %s, want [%d %d %d] %s", name, meta.Shape, meta.DType, r.C, r.H, r.W, r.DType)
			continue
		}
		got := tiffReadF64(t, filepath.Join(dir, name+".out"))
		for i, v := range tiffRounded(r) {
			if math.Float32bits(got[i]) != math.Float32bits(v) {
				t.Errorf("%s: value %d is %v, want %v", name, i, got[i], v)
				break
			}
		}
	}
}

// tiffPyLarge writes a 4-channel uint16 image three ways a large file
// may come: planar RGBA in one uncompressed strip per plane (tifffile's
// default), compressed strips, compressed tiles.
const tiffPyLarge = `
import os, sys, warnings
import numpy as np, tifffile
warnings.simplefilter('ignore')
a = np.random.default_rng(5).integers(0, 65535, size=(4, 640, 800), dtype=np.uint16)
tifffile.imwrite(os.path.join(sys.argv[1], 'onestrip.tif'), a, photometric='minisblack')
tifffile.imwrite(os.path.join(sys.argv[1], 'planar.tif'), a)
tifffile.imwrite(os.path.join(sys.argv[1], 'strips.tif'), a, compression='zlib')
tifffile.imwrite(os.path.join(sys.argv[1], 'tiles.tif'), a, compression='zlib', tile=(128, 128))
`

// TestTIFFReadRowsMemory: reading a band allocates about what the band
// holds, not the image, whatever the layout.
func TestTIFFReadRowsMemory(t *testing.T) {
	testsupport.NeedPythonLong(t, "tifffile", "numpy")
	dir := t.TempDir()
	testsupport.RunPython(t, tiffPyLarge, dir)
	var ref *Raster
	for _, name := range []string{"onestrip", "planar", "strips", "tiles"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".tif")
			tr, err := OpenTIFF(path)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			// A first band of 16 rows costs less than one channel's plane
			// (1 MB) would, even where a plane is one strip: those are
			// read in part.
			if name != "tiles" {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if _, err := tr.ReadRows(0, 16); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				if got := after.TotalAlloc - before.TotalAlloc; got > 512<<10 {
					t.Fatalf("rows 0 to 16 allocated %d bytes", got)
				}
			}
			const band = 50
			// What a band holds as float32 and as stored bytes, plus
			// decoded tiles or strips (a row of 128-row tiles of one
			// channel, kept for the next band, and a 64 KiB strip).
			bandBytes := uint64(tr.W * band * tr.C * (4 + 2))
			limit := 2*bandBytes + uint64(tr.C*128*tr.W*2) + 1<<20
			var all []float32
			for y := 0; y < tr.H; y += band {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				r, err := tr.ReadRows(y, min(y+band, tr.H))
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatal(err)
				}
				if got := after.TotalAlloc - before.TotalAlloc; y > 0 && got > limit {
					t.Fatalf("rows %d to %d allocated %d bytes, more than %d", y, y+band, got, limit)
				}
				all = append(all, r.Data...)
			}
			// Bands are channel-major each; regroup and compare with a
			// whole read.
			b, _ := os.ReadFile(path)
			whole, err := DecodeTIFF(b)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = whole
			} else {
				tiffSameValues(t, whole.Data, ref.Data)
			}
			off := 0
			for y := 0; y < tr.H; y += band {
				n := min(band, tr.H-y)
				for c := 0; c < tr.C; c++ {
					tiffSameValues(t, all[off:off+n*tr.W], whole.Plane(c)[y*tr.W:(y+n)*tr.W])
					off += n * tr.W
				}
			}
		})
	}
}

// TestTIFFLargeStreaming writes and reads back a 4-channel 16-bit
// 6000×4000 image band by band, never holding it whole.
func TestTIFFLargeStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 192 MB file")
	}
	const w, h, c, band = 6000, 4000, 4, 256
	path := filepath.Join(t.TempDir(), "large.tif")
	tw, err := CreateTIFF(path, w, h, c, Uint16)
	if err != nil {
		t.Fatal(err)
	}
	val := func(c, y, x int) float32 { return float32((c*7919 + y*31 + x) % 65536) }
	for y0 := 0; y0 < h; y0 += band {
		r := New(w, min(band, h-y0), c, Uint16)
		for ch := 0; ch < c; ch++ {
			p := r.Plane(ch)
			for y := 0; y < r.H; y++ {
				for x := 0; x < w; x++ {
					p[y*w+x] = val(ch, y0+y, x)
				}
			}
		}
		if err := tw.WriteRows(y0, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := OpenTIFF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.W != w || tr.H != h || tr.C != c || tr.DType != Uint16 {
		t.Fatalf("%d×%d×%d %s", tr.C, tr.H, tr.W, tr.DType)
	}
	limit := uint64(3*w*band*c*(4+2)) + 1<<20
	for y0 := 0; y0 < h; y0 += band {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := tr.ReadRows(y0, min(y0+band, h))
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Fatalf("rows %d to %d allocated %d bytes, more than %d", y0, y0+band, got, limit)
		}
		for ch := 0; ch < c; ch++ {
			p := r.Plane(ch)
			for y := 0; y < r.H; y += 97 {
				for x := 0; x < w; x += 101 {
					if p[y*w+x] != val(ch, y0+y, x) {
						t.Fatalf("channel %d (%d, %d) is %v, want %v", ch, x, y0+y, p[y*w+x], val(ch, y0+y, x))
					}
				}
			}
		}
	}
}

// tiffBuilder writes little-endian classic TIFFs by hand, for the files
// no writer would make.
type tiffBuilder struct {
	data  []byte // blobs, after the 8-byte header
	pages [][]tiffEntry
	// next overrides page i's next-IFD pointer with page next[i]'s offset
	// (a loop), or with a raw offset when it is negative (-offset).
	next map[int]int
}

type tiffEntry struct {
	tag, typ uint16
	count    uint32
	val      []byte
}

func tiffShort(tag uint16, v ...uint16) tiffEntry {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return tiffEntry{tag, 3, uint32(len(v)), b}
}

func tiffLong(tag uint16, v ...uint32) tiffEntry {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return tiffEntry{tag, 4, uint32(len(v)), b}
}

func tiffASCII(tag uint16, s string) tiffEntry {
	return tiffEntry{tag, 2, uint32(len(s) + 1), append([]byte(s), 0)}
}

// blob adds data and returns its offset.
func (tb *tiffBuilder) blob(b []byte) uint32 {
	off := 8 + len(tb.data)
	tb.data = append(tb.data, b...)
	if len(tb.data)%2 == 1 {
		tb.data = append(tb.data, 0)
	}
	return uint32(off)
}

// image adds a page of w×h samples of the given bits and sample format
// whose only strip is pix (added as a blob), with more entries.
func (tb *tiffBuilder) image(w, h, spp, bits, format int, pix []byte, more ...tiffEntry) {
	off := tb.blob(pix)
	bps := make([]uint16, spp)
	for i := range bps {
		bps[i] = uint16(bits)
	}
	entries := []tiffEntry{tiffLong(256, uint32(w)), tiffLong(257, uint32(h)), tiffShort(258, bps...), tiffShort(259, 1), tiffShort(262, 1),
		tiffLong(273, off), tiffShort(277, uint16(spp)), tiffLong(278, uint32(h)), tiffLong(279, uint32(len(pix))), tiffShort(339, uint16(format))}
	tb.page(append(entries, more...)...)
}

// page adds a page of these entries (later ones replace earlier ones of
// the same tag).
func (tb *tiffBuilder) page(entries ...tiffEntry) {
	byTag := map[uint16]tiffEntry{}
	for _, e := range entries {
		byTag[e.tag] = e
	}
	var out []tiffEntry
	for _, e := range entries {
		if f, ok := byTag[e.tag]; ok {
			out = append(out, f)
			delete(byTag, e.tag)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].tag < out[j-1].tag; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	tb.pages = append(tb.pages, out)
}

func (tb *tiffBuilder) bytes() []byte {
	le := binary.LittleEndian
	out := []byte("II*\x00\x00\x00\x00\x00")
	out = append(out, tb.data...)
	at := make([]int, len(tb.pages))
	for i := range tb.pages {
		if i == 0 {
			at[i] = len(out)
		} else {
			at[i] = at[i-1] + tb.size(tb.pages[i-1])
		}
	}
	if len(tb.pages) > 0 {
		le.PutUint32(out[4:], uint32(at[0]))
	}
	for i, p := range tb.pages {
		b := make([]byte, 2+12*len(p)+4)
		le.PutUint16(b, uint16(len(p)))
		extra := len(b)
		var tail []byte
		for k, e := range p {
			q := b[2+12*k:]
			le.PutUint16(q, e.tag)
			le.PutUint16(q[2:], e.typ)
			le.PutUint32(q[4:], e.count)
			if len(e.val) <= 4 {
				copy(q[8:12], e.val)
			} else {
				le.PutUint32(q[8:], uint32(at[i]+extra+len(tail)))
				tail = append(tail, e.val...)
				if len(tail)%2 == 1 {
					tail = append(tail, 0)
				}
			}
		}
		next := 0
		if i+1 < len(tb.pages) {
			next = at[i+1]
		}
		if n, ok := tb.next[i]; ok {
			if n >= 0 {
				next = at[n]
			} else {
				next = -n
			}
		}
		le.PutUint32(b[len(b)-4:], uint32(next))
		out = append(out, b...)
		out = append(out, tail...)
	}
	return out
}

func (tb *tiffBuilder) size(p []tiffEntry) int {
	size := 2 + 12*len(p) + 4
	for _, e := range p {
		if len(e.val) > 4 {
			size += len(e.val) + len(e.val)%2
		}
	}
	return size
}

func tiffDeflate(b []byte) []byte {
	var buf bytes.Buffer
	z := zlib.NewWriter(&buf)
	z.Write(b)
	z.Close()
	return buf.Bytes()
}

// tiffSmallFile is a valid 4×3 two-page uint8 file.
func tiffSmallFile() []byte {
	var tb tiffBuilder
	tb.image(4, 3, 1, 8, 1, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	tb.image(4, 3, 1, 8, 1, []byte{21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	return tb.bytes()
}

func TestTIFFHandBuilt(t *testing.T) {
	r, err := DecodeTIFF(tiffSmallFile())
	if err != nil {
		t.Fatal(err)
	}
	if r.Shape() != "2×3×4 uint8" || r.Data[0] != 1 || r.Data[12] != 21 || r.Data[23] != 32 {
		t.Fatalf("%s %v", r.Shape(), r.Data)
	}
	// Contiguous RGB with alpha, big values: 2×1 uint16.
	var tb tiffBuilder
	pix := []byte{1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0xff, 0xff}
	tb.image(2, 1, 4, 16, 1, pix, tiffShort(262, 2), tiffShort(338, 2))
	r, err = DecodeTIFF(tb.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Data) != "[1 5 2 6 3 7 4 65535]" {
		t.Fatalf("%v", r.Data)
	}
	// A deflate strip.
	tb = tiffBuilder{}
	tb.image(4, 2, 1, 16, 2, tiffDeflate([]byte{0, 0x80, 1, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 2, 0}), tiffShort(259, 8))
	r, err = DecodeTIFF(tb.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Data) != "[-32768 1 -1 32767 0 0 0 2]" || r.DType != Int16 {
		t.Fatalf("%v %s", r.Data, r.DType)
	}
}

// TestTIFFHostile: files no writer should make each give a one-line
// error, quickly and without a panic.
func TestTIFFHostile(t *testing.T) {
	pix := make([]byte, 16)
	one := func(more ...tiffEntry) []byte {
		var tb tiffBuilder
		tb.image(4, 4, 1, 8, 1, pix, more...)
		return tb.bytes()
	}
	cases := []struct {
		name, want string
		file       func() []byte
	}{
		{"empty", "too short", func() []byte { return nil }},
		{"garbage", "not a TIFF", func() []byte { return []byte("GIF89a, not a tiff at all") }},
		{"no directory", "no image directory", func() []byte { return []byte("II*\x00\x00\x00\x00\x00") }},
		{"directory past the end", "outside the file", func() []byte { return []byte("II*\x00\xff\xff\x00\x00\x00\x00") }},
		{"directory cut short", "cut short", func() []byte { return append([]byte("II*\x00\x08\x00\x00\x00"), 0xff, 0x00, 1, 2, 3) }},
		{"bigtiff bad offset size", "BigTIFF", func() []byte { return []byte("II+\x00\x04\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00") }},
		{"strip past the end", "past the end", func() []byte { return one(tiffLong(273, 1<<30)) }},
		{"compressed strip past the end", "", func() []byte { return one(tiffLong(273, 1<<30), tiffShort(259, 8)) }},
		{"strip too short", "strip 1 holds 4 bytes", func() []byte {
			var tb tiffBuilder
			off := tb.blob(make([]byte, 32))
			tb.image(4, 8, 1, 8, 1, nil, tiffLong(273, off, off+16), tiffLong(278, 4), tiffLong(279, 16, 4))
			return tb.bytes()
		}},
		{"width overflow", "", func() []byte { return one(tiffLong(256, 0xffffffff), tiffLong(257, 0xffffffff)) }},
		{"too many samples", "", func() []byte { return one(tiffLong(256, 0x10000), tiffLong(257, 0x10000)) }},
		{"palette", "palette", func() []byte { return one(tiffShort(262, 3), tiffShort(320, make([]uint16, 3*256)...)) }},
		{"bilevel", "bilevel", func() []byte { return one(tiffShort(258, 1)) }},
		{"4-bit", "4-bit samples", func() []byte { return one(tiffShort(258, 4)) }},
		{"12-bit", "12-bit samples", func() []byte { return one(tiffShort(258, 12)) }},
		{"int8", "8-bit signed", func() []byte { return one(tiffShort(339, 2)) }},
		{"float16", "16-bit float", func() []byte { return one(tiffShort(258, 16), tiffShort(339, 3)) }},
		{"ycbcr", "YCbCr", func() []byte {
			var tb tiffBuilder
			tb.image(4, 4, 3, 8, 1, make([]byte, 48), tiffShort(262, 6))
			return tb.bytes()
		}},
		{"jpeg colour", "JPEG", func() []byte {
			var tb tiffBuilder
			tb.image(4, 4, 3, 8, 1, make([]byte, 48), tiffShort(262, 2), tiffShort(259, 7))
			return tb.bytes()
		}},
		{"cmyk", "CMYK", func() []byte {
			var tb tiffBuilder
			tb.image(4, 4, 4, 8, 1, make([]byte, 64), tiffShort(262, 5))
			return tb.bytes()
		}},
		{"65 samples", "65 samples", func() []byte {
			var tb tiffBuilder
			tb.image(1, 1, 65, 8, 1, make([]byte, 65), tiffShort(262, 1))
			return tb.bytes()
		}},
		{"65535 pages", "more than 64 pages", func() []byte {
			var tb tiffBuilder
			off := tb.blob(pix)
			p := []tiffEntry{tiffLong(256, 4), tiffLong(257, 4), tiffShort(258, 8), tiffLong(273, off), tiffLong(279, 16)}
			for range 65535 {
				tb.page(p...)
			}
			return tb.bytes()
		}},
		{"23 RGB pages", "69 channels", func() []byte {
			var tb tiffBuilder
			for range 23 {
				tb.image(1, 1, 3, 8, 1, make([]byte, 3), tiffShort(262, 2))
			}
			return tb.bytes()
		}},
		{"pages differ", "page 1 is 5×4 uint8, page 0 is 4×4 uint8", func() []byte {
			var tb tiffBuilder
			tb.image(4, 4, 1, 8, 1, pix)
			tb.image(5, 4, 1, 8, 1, make([]byte, 20))
			return tb.bytes()
		}},
		{"page type differs", "page 2 is 4×4 uint16", func() []byte {
			var tb tiffBuilder
			tb.image(4, 4, 1, 8, 1, pix)
			tb.image(4, 4, 1, 8, 1, pix)
			tb.image(4, 4, 1, 16, 1, make([]byte, 32))
			return tb.bytes()
		}},
		{"IFD loop to itself", "IFD loop", func() []byte {
			tb := tiffBuilder{next: map[int]int{0: 0}}
			tb.image(4, 4, 1, 8, 1, pix)
			return tb.bytes()
		}},
		{"IFD loop", "IFD loop: page 2's next directory is page 1", func() []byte {
			tb := tiffBuilder{next: map[int]int{2: 1}}
			for range 3 {
				tb.image(4, 4, 1, 8, 1, pix)
			}
			return tb.bytes()
		}},
		{"next IFD past the end", "outside the file", func() []byte {
			tb := tiffBuilder{next: map[int]int{0: -(1 << 20)}}
			tb.image(4, 4, 1, 8, 1, pix)
			return tb.bytes()
		}},
		{"huge tiles", "tiles", func() []byte {
			return one(tiffLong(322, 1<<16), tiffLong(323, 1<<16), tiffLong(324, 8), tiffLong(325, 16))
		}},
		{"OME too few pages", "OME-XML says SizeC 3 × SizeZ 1 × SizeT 1 = 3 planes, the file has 2 pages", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="3" SizeZ="1" SizeT="1"/>`)
		}},
		{"OME too many pages", "OME-XML says SizeC 1 × SizeZ 2 × SizeT 1 = 2 planes, the file has 3 pages", func() []byte {
			return tiffOMEFile(3, `<Pixels DimensionOrder="XYZCT" Type="uint8" SizeX="4" SizeY="4" SizeC="1" SizeZ="2" SizeT="1"/>`)
		}},
		{"OME type", "OME-XML says Type uint16, the pages hold uint8", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint16" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"/>`)
		}},
		{"OME size", "OME-XML says SizeX 5 × SizeY 4, the pages are 4×4", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="5" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"/>`)
		}},
		{"OME order", "DimensionOrder", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCCT" Type="uint8" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"/>`)
		}},
		{"OME channels", "SizeC 65", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="65" SizeZ="1" SizeT="1"/>`)
		}},
		{"OME huge sizes", "more than", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="2" SizeZ="2147483648" SizeT="2147483648"/>`)
		}},
		{"OME TiffData past the pages", "page 40 is needed", func() []byte {
			return tiffOMEFile(2, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"><TiffData IFD="40" PlaneCount="2"/></Pixels>`)
		}},
		{"OME broken", "OME-XML", func() []byte { return tiffOMEFile(1, `<Pixels`) }},
		{"ImageJ channels", "channels=100", func() []byte { return one(tiffASCII(270, "ImageJ=1.11a\nimages=100\nchannels=100\n")) }},
		{"ImageJ pages", "ImageJ description says channels 2 × slices 3 × frames 1 = 6 images, the file has 1 page", func() []byte {
			return one(tiffASCII(270, "ImageJ=1.11a\nimages=6\nchannels=2\nslices=3\n"))
		}},
		{"shape pages", "tifffile's shape [3 4 4] is 3 pages, the file has 1 page", func() []byte {
			return one(tiffASCII(270, `{"shape": [3, 4, 4]}`))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeTIFF(c.file())
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of several lines: %q", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			t.Log(msg)
		})
	}
}

// tiffOMEFile is pages 4×4 uint8 pages with OME-XML holding pixels in page 0.
func tiffOMEFile(pages int, pixels string) []byte {
	xml := `<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0">` + pixels + `</Image></OME>`
	var tb tiffBuilder
	for i := range pages {
		if i == 0 {
			tb.image(4, 4, 1, 8, 1, make([]byte, 16), tiffASCII(270, xml))
		} else {
			tb.image(4, 4, 1, 8, 1, bytes.Repeat([]byte{byte(i)}, 16))
		}
	}
	return tb.bytes()
}

// TestTIFFCompressionBomb: a strip that inflates far past its page's
// declared size is decoded only up to that size.
func TestTIFFCompressionBomb(t *testing.T) {
	var tb tiffBuilder
	tb.image(16, 16, 1, 8, 1, tiffDeflate(make([]byte, 16<<20)), tiffShort(259, 8))
	b := tb.bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := DecodeTIFF(b)
	runtime.ReadMemStats(&after)
	if err == nil && (r.W != 16 || r.H != 16) {
		t.Fatalf("%s", r.Shape())
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("decoding a 16×16 page allocated %d bytes", got)
	}
}

// TestTIFFOMEOrders: every DimensionOrder, and TiffData runs, pick the
// pages of the first Z and T.
func TestTIFFOMEOrders(t *testing.T) {
	const sc, sz, st = 2, 3, 2
	for _, order := range []string{"XYCZT", "XYCTZ", "XYZCT", "XYZTC", "XYTCZ", "XYTZC"} {
		t.Run(order, func(t *testing.T) {
			pixels := fmt.Sprintf(`<Pixels DimensionOrder="%s" Type="uint8" SizeX="4" SizeY="4" SizeC="%d" SizeZ="%d" SizeT="%d"/>`, order, sc, sz, st)
			r, err := DecodeTIFF(tiffOMEFile(sc*sz*st, pixels))
			if err != nil {
				t.Fatal(err)
			}
			// Channel 1 at Z 0, T 0 is page stride(C).
			stride := 1
			for _, d := range order[2:] {
				if d == 'C' {
					break
				}
				stride *= map[rune]int{'Z': sz, 'T': st}[d]
			}
			if r.C != sc || r.Plane(0)[0] != 0 || r.Plane(1)[0] != float32(stride) {
				t.Fatalf("%s: channels start %v, %v; want 0, %d", r.Shape(), r.Plane(0)[0], r.Plane(1)[0], stride)
			}
		})
	}
	// TiffData: the planes start at page 2 (pages 0 and 1 belong to
	// another image).
	xml := `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"><TiffData IFD="2" PlaneCount="2"/></Pixels></Image><Image ID="Image:1"><Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1"><TiffData IFD="0" PlaneCount="2"/></Pixels>`
	r, err := DecodeTIFF(tiffOMEFile(4, xml))
	if err != nil {
		t.Fatal(err)
	}
	if r.C != 2 || r.Plane(0)[0] != 2 || r.Plane(1)[0] != 3 {
		t.Fatalf("%s %v %v", r.Shape(), r.Plane(0)[0], r.Plane(1)[0])
	}
}

// TestTIFFShapeLayouts: tifffile's shape description, hand-made.
func TestTIFFShapeLayouts(t *testing.T) {
	pages := func(n, w, h int, desc string) []byte {
		var tb tiffBuilder
		for i := range n {
			pix := make([]byte, w*h)
			for j := range pix {
				pix[j] = byte(i*w*h + j)
			}
			if i == 0 {
				tb.image(w, h, 1, 8, 1, pix, tiffASCII(270, desc))
			} else {
				tb.image(w, h, 1, 8, 1, pix)
			}
		}
		return tb.bytes()
	}
	for _, c := range []struct {
		name  string
		file  []byte
		shape string
		first []float32 // first sample of each channel
	}{
		{"CHW", pages(3, 4, 2, `{"shape": [3, 2, 4]}`), "3×2×4 uint8", []float32{0, 8, 16}},
		{"HWC", pages(6, 3, 2, `{"shape": [6, 2, 3]}`), "3×6×2 uint8", []float32{0, 1, 2}},
		{"HWC by axes", pages(2, 3, 4, `{"shape": [2, 4, 3], "axes": "YXC"}`), "3×2×4 uint8", []float32{0, 1, 2}},
		{"CHW by axes", pages(6, 3, 2, `{"shape": [6, 2, 3], "axes": "CYX"}`), "6×2×3 uint8", []float32{0, 6, 12, 18, 24, 30}},
		{"ZCYX", pages(6, 2, 2, `{"shape": [2, 3, 2, 2]}`), "3×2×2 uint8", []float32{0, 4, 8}},
		{"CZYX by axes", pages(6, 2, 2, `{"shape": [2, 3, 2, 2], "axes": "CZYX"}`), "2×2×2 uint8", []float32{0, 12}},
		{"TZYX by axes", pages(6, 2, 2, `{"shape": [2, 3, 2, 2], "axes": "TZYX"}`), "1×2×2 uint8", []float32{0}},
		{"old style", pages(2, 2, 2, `shape=(2, 2, 2)`), "2×2×2 uint8", []float32{0, 4}},
		{"second series ignored", pages(3, 2, 2, `{"shape": [2, 2, 2]}`), "2×2×2 uint8", []float32{0, 4}},
		{"not tifffile's", pages(2, 2, 2, `{"shape": [7, 5]}`), "2×2×2 uint8", []float32{0, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeTIFF(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if r.Shape() != c.shape {
				t.Fatalf("%s, want %s", r.Shape(), c.shape)
			}
			for i, v := range c.first {
				if r.Plane(i)[0] != v {
					t.Fatalf("channel %d starts %v, want %v", i, r.Plane(i)[0], v)
				}
			}
		})
	}
}
