package data

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// hdHash is a deterministic scramble for fixtures: neighbouring pixels
// get unrelated values, so a resampling that reads the wrong source pixel
// shows.
func hdHash(x, y, salt int) int {
	return int(splitmix64(uint64(x)<<32|uint64(y)<<8|uint64(salt)) >> 33)
}

func writeGray(t testing.TB, path string, w, h int, f func(x, y int) uint8) {
	t.Helper()
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetGray(x, y, color.Gray{Y: f(x, y)})
		}
	}
	writeStd(t, path, m)
}

func writeGray16(t testing.TB, path string, w, h int, f func(x, y int) uint16) {
	t.Helper()
	m := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetGray16(x, y, color.Gray16{Y: f(x, y)})
		}
	}
	writeStd(t, path, m)
}

// hdInstIDs are Cityscapes-like instance ids: stuff carries its class id,
// things class·1000+k, above 2^15 and 8 bits alike.
var hdInstIDs = []uint16{0, 7, 26001, 26002, 33000, 65535}

// hdFixture writes sample name of a pix2pixHD dataset under root/phase:
// with labelNC > 0 a label map of ids below labelNC, else an RGB input;
// an RGB target when target; a 16-bit instance map when inst; an RGB
// feature image when feat.
func hdFixture(t testing.TB, root, phase, name string, w, h, labelNC int, target, inst, feat bool) {
	t.Helper()
	p := func(dir string) string { return filepath.Join(root, phase+dir, name+".png") }
	noise := func(salt int) func(x, y int) color.RGBA {
		return func(x, y int) color.RGBA {
			v := hdHash(x, y, salt)
			return color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 255}
		}
	}
	if labelNC > 0 {
		writeGray(t, p("_label"), w, h, func(x, y int) uint8 { return uint8(hdHash(x, y, 1) % labelNC) })
		if target {
			writePNG(t, p("_img"), w, h, noise(2))
		}
	} else {
		writePNG(t, p("_A"), w, h, noise(3))
		if target {
			writePNG(t, p("_B"), w, h, noise(2))
		}
	}
	if inst {
		writeGray16(t, p("_inst"), w, h, func(x, y int) uint16 { return hdInstIDs[hdHash(x, y, 4)%len(hdInstIDs)] })
	}
	if feat {
		// Features are constant per instance in pix2pixHD; noise tests
		// the resampling harder.
		writePNG(t, p("_feat"), w, h, noise(5))
	}
}

// hdOptions returns test options for the mode with the given extra
// options (flag name → text, as the options layer passes them).
func hdTestOptions(root string, extra map[string]string) Options {
	o := testOptions(root)
	o.DatasetMode = "pix2pixhd"
	o.Extra = map[string]string{}
	for k, v := range extra {
		o.Extra[k] = v
	}
	return o
}

// TestPix2PixHDLayout: the folders read and the arrays produced for each
// combination of labels, targets, instance maps and features.
func TestPix2PixHDLayout(t *testing.T) {
	cases := []struct {
		name    string
		phase   string
		labelNC int
		extra   map[string]string
		inputNC int
		target  bool // write the target folder
		inst    bool // write the instance folder
		feat    bool // write the feature folder
		arrays  string
		paths   string
		folders string
	}{
		{"images, no instances", "train", 0, map[string]string{"no_instance": "true"}, 3, true, false, false,
			"A[3 14 20] B[3 14 20]", "A_paths B_paths", "train_A train_B"},
		{"grey images", "train", 0, map[string]string{"no_instance": "true"}, 1, true, false, false,
			"A[1 14 20] B[3 14 20]", "A_paths B_paths", "train_A train_B"},
		{"images with instances", "train", 0, nil, 3, true, true, false,
			"A[3 14 20] B[3 14 20] inst[1 14 20]", "A_paths B_paths inst_paths", "train_A train_B train_inst"},
		{"labels, no instances", "train", 8, map[string]string{"no_instance": "true"}, 3, true, false, false,
			"A[1 14 20] B[3 14 20]", "A_paths B_paths", "train_label train_img"},
		{"labels with instances", "train", 8, nil, 3, true, true, false,
			"A[1 14 20] B[3 14 20] inst[1 14 20]", "A_paths B_paths inst_paths", "train_label train_img train_inst"},
		{"labels, instances, features", "train", 8, map[string]string{"load_features": "true"}, 3, true, true, true,
			"A[1 14 20] B[3 14 20] feat[3 14 20] inst[1 14 20]", "A_paths B_paths feat_paths inst_paths", "train_label train_img train_inst train_feat"},
		{"test phase without targets", "test", 8, nil, 3, false, true, false,
			"A[1 14 20] inst[1 14 20]", "A_paths inst_paths", "test_label test_inst"},
		{"test phase with targets", "test", 8, nil, 3, true, true, false,
			"A[1 14 20] B[3 14 20] inst[1 14 20]", "A_paths B_paths inst_paths", "test_label test_img test_inst"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for _, n := range []string{"a", "b", "c"} {
				hdFixture(t, root, c.phase, n, 20, 14, c.labelNC, c.target, c.inst, c.feat)
			}
			extra := map[string]string{"label_nc": fmt.Sprint(c.labelNC)}
			for k, v := range c.extra {
				extra[k] = v
			}
			o := hdTestOptions(root, extra)
			o.Phase, o.Preprocess, o.InputNC, o.BatchSize = c.phase, "none", c.inputNC, 2
			m, _ := LookupMode("pix2pixhd")
			if got := strings.Join(folderNames(m.Folders(o)), " "); got != c.folders {
				t.Errorf("Folders %s, want %s", got, c.folders)
			}
			s, err := Check(o)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if s.Len != 3 {
				t.Errorf("Check counts %d samples, want 3", s.Len)
			}
			l, err := Create(o, 1)
			if err != nil {
				t.Fatal(err)
			}
			// Nothing is dropped: the last batch holds the third sample.
			if l.Len() != 3 || l.NumBatches() != 2 {
				t.Errorf("Len %d, %d batches; want 3 and 2", l.Len(), l.NumBatches())
			}
			smp, err := l.Dataset().Get(2, rng(1))
			if err != nil {
				t.Fatal(err)
			}
			var arrays, paths []string
			for k, a := range smp.Arrays {
				arrays = append(arrays, fmt.Sprintf("%s%v", k, a.Shape))
			}
			for k, p := range smp.Paths {
				paths = append(paths, k)
				if filepath.Base(p) != "c.png" {
					t.Errorf("%s is %s, want the third file, c.png", k, p)
				}
			}
			sort.Strings(arrays)
			sort.Strings(paths)
			if got := strings.Join(arrays, " "); got != c.arrays {
				t.Errorf("arrays %s, want %s", got, c.arrays)
			}
			if got := strings.Join(paths, " "); got != c.paths {
				t.Errorf("paths %s, want %s", got, c.paths)
			}
		})
	}
}

// hdJob is one sample for the Pillow reimplementation of pix2pixHD's
// transform chain.
type hdJob struct {
	Files   map[string]string `json:"files"`
	Mode    string            `json:"mode"`
	Load    int               `json:"load"`
	Fine    int               `json:"fine"`
	Base    int               `json:"base"`
	X       int               `json:"x"`
	Y       int               `json:"y"`
	Flip    bool              `json:"flip"`
	LabelNC int               `json:"label_nc"`
}

// hdPillow is pix2pixHD's get_transform (base_dataset.py) and
// aligned_dataset's loading, in Pillow and NumPy: labels and instances
// as their ids (ToTensor·255 of mode L, ToTensor of mode I), images and
// features normalised as ToTensor and Normalize(0.5, 0.5) compute them in
// float32. Instance maps resample NEAREST whatever --label_nc (pix2pixHD
// would use the input's method; ids cannot be interpolated), features
// with the input's method.
const hdPillow = `
import sys, json
import numpy as np
from PIL import Image

def chain(img, j, method):
    mode, load, fine = j["mode"], j["load"], j["fine"]
    if "resize" in mode:
        img = img.resize((load, load), method)
    elif "scale_width" in mode:
        ow, oh = img.size
        if ow != load:
            img = img.resize((load, int(load * oh / ow)), method)
    if "crop" in mode:
        ow, oh = img.size
        if ow > fine or oh > fine:
            x, y = j["x"], j["y"]
            img = img.crop((x, y, x + fine, y + fine))
    if mode == "none" and j["base"]:
        base = float(j["base"])
        ow, oh = img.size
        h = int(round(oh / base) * base)
        w = int(round(ow / base) * base)
        if (h, w) != (oh, ow):
            img = img.resize((w, h), method)
    if j["flip"]:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img

def ids(img):
    a = np.asarray(img).astype(np.float64)
    return {"shape": [1] + list(a.shape), "data": a.ravel().tolist()}

def normalised(img):
    a = np.asarray(img, dtype=np.float32) / np.float32(255)
    a = (a - np.float32(0.5)) / np.float32(0.5)
    a = a.transpose(2, 0, 1)
    return {"shape": list(a.shape), "data": a.astype(np.float64).ravel().tolist()}

out = []
for j in json.load(open(sys.argv[1])):
    f, r = j["files"], {}
    method = Image.NEAREST if j["label_nc"] > 0 else Image.BICUBIC
    if j["label_nc"] > 0:
        lab = Image.open(f["A"])
        assert lab.mode == "L", lab.mode
        r["A"] = ids(chain(lab, j, Image.NEAREST))
    else:
        r["A"] = normalised(chain(Image.open(f["A"]).convert("RGB"), j, Image.BICUBIC))
    r["B"] = normalised(chain(Image.open(f["B"]).convert("RGB"), j, Image.BICUBIC))
    inst = Image.open(f["inst"])
    assert inst.mode in ("I", "I;16"), inst.mode
    r["inst"] = ids(chain(inst, j, Image.NEAREST))
    r["feat"] = normalised(chain(Image.open(f["feat"]).convert("RGB"), j, method))
    out.append(r)
json.dump(out, sys.stdout)
`

// TestPix2PixHDMatchesPillow: every --preprocess mode against pix2pixHD's
// chain run with Pillow on the same files and the same crop and flip:
// labels and instances exactly (NEAREST, 8- and 16-bit ids), images and
// features within 2/255 (BICUBIC, Pillow-exact here).
func TestPix2PixHDMatchesPillow(t *testing.T) {
	testsupport.NeedPythonLong(t, "PIL, numpy")
	cases := []struct {
		name       string
		preprocess string
		load, fine int
		w, h       int
		extra      map[string]string
	}{
		{"resize_and_crop down", "resize_and_crop", 16, 12, 23, 17, nil},
		{"resize_and_crop up", "resize_and_crop", 30, 24, 23, 17, nil},
		{"crop", "crop", 0, 12, 23, 17, nil},
		{"crop, lower than the crop", "crop", 0, 20, 23, 17, nil},
		{"crop, smaller both ways", "crop", 0, 24, 23, 17, nil},
		{"scale_width", "scale_width", 16, 0, 23, 17, nil},
		{"scale_width up", "scale_width", 40, 0, 23, 17, nil},
		{"scale_width, width already right", "scale_width", 23, 0, 23, 17, nil},
		{"scale_width_and_crop", "scale_width_and_crop", 32, 16, 23, 17, nil},
		{"scale_width_and_crop, lower than the crop", "scale_width_and_crop", 16, 14, 23, 17, nil},
		{"none, multiples of 4", "none", 0, 0, 23, 17, map[string]string{"n_downsample_global": "2"}},
		{"none, local, ties to even", "none", 0, 0, 20, 12, map[string]string{"n_downsample_global": "2", "netG": "local", "n_local_enhancers": "1"}},
		{"none, no rounding", "none", 0, 0, 23, 17, nil},
	}
	var jobs []hdJob
	type got struct {
		name   string
		sample *Sample
	}
	var gots []got
	for _, c := range cases {
		for _, labelNC := range []int{0, 10} {
			root := t.TempDir()
			hdFixture(t, root, "train", "s", c.w, c.h, labelNC, true, true, true)
			extra := map[string]string{"label_nc": fmt.Sprint(labelNC), "load_features": "true"}
			for k, v := range c.extra {
				extra[k] = v
			}
			o := hdTestOptions(root, extra)
			o.Preprocess, o.LoadSize, o.CropSize = c.preprocess, max(c.load, c.fine), c.fine
			ds, err := New("pix2pixhd", o)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			hd := ds.(*hdDataset)
			for seed := uint64(1); seed <= 3; seed++ {
				s, err := ds.Get(0, rng(seed))
				if err != nil {
					t.Fatalf("%s, seed %d: %v", c.name, seed, err)
				}
				p := GetParams(&o, c.w, c.h, rng(seed))
				jobs = append(jobs, hdJob{
					Files: map[string]string{"A": hd.a[0], "B": hd.b[0], "inst": hd.inst[0], "feat": hd.feats[0]},
					Mode:  c.preprocess, Load: o.LoadSize, Fine: o.CropSize, Base: hd.h.base,
					X: p.CropX, Y: p.CropY, Flip: p.Flip, LabelNC: labelNC,
				})
				gots = append(gots, got{fmt.Sprintf("%s, label_nc %d, seed %d (x %d, y %d, flip %v)", c.name, labelNC, seed, p.CropX, p.CropY, p.Flip), s})
			}
		}
	}
	spec := filepath.Join(t.TempDir(), "jobs.json")
	b, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, spec, b)
	var want []map[string]struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	if err := json.Unmarshal(testsupport.RunPython(t, hdPillow, spec), &want); err != nil {
		t.Fatal(err)
	}
	flips := map[bool]bool{}
	for i, g := range gots {
		flips[jobs[i].Flip] = true
		for name, w := range want[i] {
			a := g.sample.Arrays[name]
			if a == nil {
				t.Errorf("%s: no %s", g.name, name)
				continue
			}
			if !reflect.DeepEqual(a.Shape, w.Shape) {
				t.Errorf("%s: %s shape %v, Pillow's %v", g.name, name, a.Shape, w.Shape)
				continue
			}
			tol := 2.0 / 255
			if a.Shape[0] == 1 {
				tol = 0 // ids
			}
			for k, v := range a.Data {
				if d := math.Abs(float64(v) - w.Data[k]); d > tol {
					t.Errorf("%s: %s[%d] = %v, Pillow's %v", g.name, name, k, v, w.Data[k])
					break
				}
			}
		}
	}
	if !flips[true] || !flips[false] {
		t.Errorf("the seeds drew flips %v only: choose seeds that test both", flips)
	}
}

// TestPix2PixHDInstanceIDs16: 16-bit instance ids reach the sample as the
// integers stored, through a NEAREST resize and crop.
func TestPix2PixHDInstanceIDs16(t *testing.T) {
	root := t.TempDir()
	hdFixture(t, root, "train", "s", 23, 17, 10, true, true, false)
	for _, pre := range []string{"none", "resize_and_crop"} {
		o := hdTestOptions(root, map[string]string{"label_nc": "10"})
		o.Preprocess, o.LoadSize, o.CropSize = pre, 32, 24
		ds, err := New("pix2pixhd", o)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ds.Get(0, rng(1))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[float32]bool{}
		for _, v := range s.Arrays["inst"].Data {
			seen[v] = true
		}
		for _, id := range hdInstIDs {
			delete(seen, float32(id))
		}
		if len(seen) > 0 {
			t.Errorf("--preprocess %s: instance values %v are not ids of the file (%v)", pre, seen, hdInstIDs)
		}
		if pre != "none" {
			continue
		}
		raw := s.Arrays["inst"].Data
		for _, id := range []uint16{26001, 33000} {
			found := false
			for _, v := range raw {
				found = found || v == float32(id)
			}
			if !found {
				t.Errorf("id %d is missing from the instance map", id)
			}
		}
	}
}

// TestPix2PixHDDeterministic: a sample depends only on its index and the
// rng's seed.
func TestPix2PixHDDeterministic(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a", "b"} {
		hdFixture(t, root, "train", n, 23, 17, 10, true, true, true)
	}
	o := hdTestOptions(root, map[string]string{"label_nc": "10", "load_features": "true"})
	o.Preprocess, o.LoadSize, o.CropSize = "scale_width_and_crop", 32, 16
	ds, err := New("pix2pixhd", o)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ds.Get(1, rng(9))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Get(0, rng(4)); err != nil { // loading another sample between changes nothing
		t.Fatal(err)
	}
	again, err := ds.Get(1, rng(9))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Error("the same index and seed gave different samples")
	}
}

// TestPix2PixHDErrors: each kind of wrong dataset or option is one line
// naming the file, folder or flag, what is wrong and how to fix it.
func TestPix2PixHDErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, root string)
		extra map[string]string
		opt   func(o *Options)
		want  []string // with ROOT for the dataroot
	}{
		{"label value too large", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
			writeGray(t, filepath.Join(r, "train_label", "a.png"), 8, 6, func(x, y int) uint8 {
				if x == 3 && y == 2 {
					return 9
				}
				return uint8(x % 5)
			})
		}, map[string]string{"label_nc": "5", "no_instance": "true"}, nil,
			[]string{"ROOT/train_label/a.png: label value 9 at pixel (x=3, y=2) is not below --label_nc 5: set --label_nc 10 or more (the largest id + 1), or remap the ids to 0..4"}},
		{"colour-coded labels", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
			writePNG(t, filepath.Join(r, "train_label", "a.png"), 8, 6, pattern)
		}, map[string]string{"label_nc": "5", "no_instance": "true"}, nil,
			[]string{"ROOT/train_label/a.png: the label map has 3 channels, but --label_nc 5 needs class ids 0..4 in one channel (a grey or palette PNG of ids), not colour-coded labels: convert the colours to ids"}},
		{"colour instance map", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, true, false)
			writePNG(t, filepath.Join(r, "train_inst", "a.png"), 8, 6, pattern)
		}, map[string]string{"label_nc": "5"}, nil,
			[]string{"ROOT/train_inst/a.png: the instance map has 3 channels, but instance maps hold integer ids in one channel"}},
		{"counts differ", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
			hdFixture(t, r, "train", "b", 8, 6, 5, false, false, false)
		}, map[string]string{"label_nc": "5", "no_instance": "true"}, nil,
			[]string{"dataset_mode pix2pixhd: ROOT/train_label has 2 images but ROOT/train_img has 1: files pair by sorted order, so each folder must hold one file per sample (add the missing files or remove the extra ones)"}},
		{"no targets in train", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, false, false, false)
		}, map[string]string{"label_nc": "5", "no_instance": "true"}, nil,
			[]string{"ROOT: no train_img folder (a pix2pixhd dataset needs train_label and train_img; it has only train_label)"}},
		{"no instance folder", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
		}, map[string]string{"label_nc": "5"}, nil,
			[]string{"no train_inst folder (a pix2pixhd dataset needs train_label and train_img and train_inst"}},
		{"sizes differ", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
			writePNG(t, filepath.Join(r, "train_img", "a.png"), 10, 6, pattern)
		}, map[string]string{"label_nc": "5", "no_instance": "true"}, nil,
			[]string{"ROOT/train_img/a.png is 10x6 but its input ROOT/train_label/a.png is 8x6: the files of a sample must have one size"}},
		{"features without instances", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, true)
		}, map[string]string{"label_nc": "5", "no_instance": "true", "load_features": "true"}, nil,
			[]string{"dataset_mode pix2pixhd: --load_features needs instance maps (features are per instance): drop --no_instance or --load_features"}},
		{"label_nc not a number", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
		}, map[string]string{"label_nc": "many", "no_instance": "true"}, nil,
			[]string{`dataset_mode pix2pixhd: --label_nc "many" is not an integer`}},
		{"BtoA", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 0, true, false, false)
		}, map[string]string{"no_instance": "true"}, func(o *Options) { o.Direction = "BtoA" },
			[]string{"dataset_mode pix2pixhd: --direction BtoA is not supported", "use --direction AtoB"}},
		{"rounding to nothing", func(t *testing.T, r string) {
			hdFixture(t, r, "train", "a", 8, 6, 5, true, false, false)
		}, map[string]string{"label_nc": "5", "no_instance": "true", "n_downsample_global": "4"}, func(o *Options) { o.Preprocess = "none" },
			[]string{"ROOT/train_label/a.png: --preprocess none (multiples of 16, the generator's downsampling) would resize the 8x6 image to 0x0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.setup(t, root)
			o := hdTestOptions(root, c.extra)
			o.Preprocess = "crop"
			o.CropSize = 4
			if c.opt != nil {
				c.opt(&o)
			}
			_, checkErr := Check(o)
			err := checkErr
			if err == nil {
				err = loadAll(o)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "ROOT", root); !strings.Contains(msg, w) {
					t.Errorf("error %q\n lacks %q", msg, w)
				}
			}
		})
	}
}

// TestPix2PixHDPaletteLabels: a palette PNG's label ids are its indices
// (Pillow's mode P), not the palette's colours.
func TestPix2PixHDPaletteLabels(t *testing.T) {
	root := t.TempDir()
	hdFixture(t, root, "train", "a", 7, 5, 6, true, false, false)
	pal := color.Palette{}
	for i := 0; i < 6; i++ {
		pal = append(pal, color.RGBA{uint8(40 * i), 200, uint8(255 - 30*i), 255})
	}
	m := image.NewPaletted(image.Rect(0, 0, 7, 5), pal)
	var want []float32
	for y := 0; y < 5; y++ {
		for x := 0; x < 7; x++ {
			id := uint8(hdHash(x, y, 6) % 6)
			m.SetColorIndex(x, y, id)
			want = append(want, float32(id))
		}
	}
	writeStd(t, filepath.Join(root, "train_label", "a.png"), m)
	o := hdTestOptions(root, map[string]string{"label_nc": "6", "no_instance": "true"})
	o.Preprocess, o.NoFlip = "none", true
	ds, err := New("pix2pixhd", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Get(0, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Arrays["A"].Data; !reflect.DeepEqual(got, want) {
		t.Errorf("label ids %v, want the indices %v", got, want)
	}
}

// TestPix2PixHDNearest: ResizeNearest picks Pillow's source pixels,
// int((i + 0.5)·in/out) accumulated in float64, shrinking and enlarging.
func TestPix2PixHDNearest(t *testing.T) {
	cases := []struct {
		in, out int
		want    []int
	}{
		{4, 2, []int{1, 3}},
		{3, 2, []int{0, 2}},
		{2, 5, []int{0, 0, 1, 1, 1}},
		{5, 5, []int{0, 1, 2, 3, 4}},
	}
	for _, c := range cases {
		if got := nearestIndex(c.in, c.out); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%d → %d: %v, want %v", c.in, c.out, got, c.want)
		}
	}
	if !testsupport.HavePython("PIL, numpy") {
		return
	}
	// Many sizes at once, against Pillow itself.
	out := testsupport.RunPython(t, `
import numpy as np
from PIL import Image
res = []
for n in range(1, 40):
    for m in range(1, 40):
        a = Image.fromarray(np.arange(n, dtype=np.int32)[None, :].astype(np.int32), "I")
        res.append(" ".join(str(v) for v in np.asarray(a.resize((m, 1), Image.NEAREST))[0]))
print("\n".join(res))
`)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	k := 0
	for n := 1; n < 40; n++ {
		for m := 1; m < 40; m++ {
			idx := nearestIndex(n, m)
			if got := strings.Trim(fmt.Sprint(idx), "[]"); got != lines[k] {
				t.Errorf("%d → %d: %s, Pillow %s", n, m, got, lines[k])
			}
			k++
		}
	}
}
