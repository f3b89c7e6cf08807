package builtin

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// sceneOf draws scene i of labels2scenes' train folders, as Generate
// does.
func sceneOf(size int, seed uint64, i int) *scene {
	return newScene(imageRand(seed, "labels2scenes", "train", i), size)
}

// loadScene reads one generated triple: label ids, instance ids, image.
func loadScene(t *testing.T, dir, phase, name string) (label []uint8, inst []float32, img *data.Image) {
	t.Helper()
	l, err := data.LoadImage(filepath.Join(dir, phase+"_label", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, phase+"_inst", name))
	if err != nil {
		t.Fatal(err)
	}
	in, err := raster.Decode(b, name)
	if err != nil {
		t.Fatal(err)
	}
	img, err = data.LoadImage(filepath.Join(dir, phase+"_img", name))
	if err != nil {
		t.Fatal(err)
	}
	if l.C != 1 || l.HighDepth() {
		t.Fatalf("%s_label/%s: %d channels, 16-bit %v; want 8-bit grey", phase, name, l.C, l.HighDepth())
	}
	if in.C != 1 || in.DType != raster.Uint16 {
		t.Fatalf("%s_inst/%s: %s, want 1 uint16 channel", phase, name, in.Shape())
	}
	if img.C != 3 || img.HighDepth() {
		t.Fatalf("%s_img/%s: %d channels, 16-bit %v; want 8-bit RGB", phase, name, img.C, img.HighDepth())
	}
	if l.W != img.W || l.H != img.H || in.W != img.W || in.H != img.H {
		t.Fatalf("%s: label %dx%d, inst %dx%d, image %dx%d", name, l.W, l.H, in.W, in.H, img.W, img.H)
	}
	return l.Pix, in.Data, img
}

func TestScenesFiles(t *testing.T) {
	for _, size := range []int{16, 64, 200} {
		t.Run("", func(t *testing.T) {
			dir := t.TempDir()
			rep, err := Generate(context.Background(), "labels2scenes", dir, Options{Size: size, NumTrain: 4, NumTest: 2, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Mode != "pix2pixhd" || strings.Join(rep.Flags, " ") != "--model pix2pixhd --label_nc 8" {
				t.Errorf("report: mode %s, flags %q", rep.Mode, rep.Flags)
			}
			if rep.Images != 4*(4+2+2) {
				t.Errorf("%d images", rep.Images)
			}
			for _, c := range []struct {
				phase string
				n     int
			}{{"train", 4}, {"test", 2}, {"val", 2}} {
				// The three folders pair by name.
				var names [3][]string
				for k, kind := range []string{"label", "inst", "img"} {
					es, err := os.ReadDir(filepath.Join(dir, c.phase+"_"+kind))
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range es {
						names[k] = append(names[k], e.Name())
					}
					sort.Strings(names[k])
				}
				if len(names[0]) != c.n || len(names[1]) != c.n || len(names[2]) != c.n {
					t.Fatalf("%s: %d labels, %d instance maps, %d images; want %d", c.phase, len(names[0]), len(names[1]), len(names[2]), c.n)
				}
				for i := range names[0] {
					if names[0][i] != names[1][i] || names[0][i] != names[2][i] {
						t.Errorf("%s: %s, %s and %s do not pair", c.phase, names[0][i], names[1][i], names[2][i])
					}
				}
				// pix2pix's layout: the label maps in colour, and the
				// images again through a link.
				if target, err := os.Readlink(filepath.Join(dir, c.phase+"_B")); err != nil || target != c.phase+"_img" {
					t.Errorf("%s_B: link to %q (%v), want %s_img", c.phase, target, err, c.phase)
				}
				for _, name := range names[0] {
					col, err := data.LoadImage(filepath.Join(dir, c.phase+"_A", name))
					if err != nil || col.C != 3 || col.W != size {
						t.Fatalf("%s_A/%s: %v", c.phase, name, err)
					}
				}
				for _, name := range names[0] {
					label, inst, img := loadScene(t, dir, c.phase, name)
					if img.W != size || img.H != size {
						t.Fatalf("%s is %dx%d, want %d", name, img.W, img.H, size)
					}
					for i, cls := range label {
						id := int(inst[i])
						switch {
						case int(cls) >= sceneClasses:
							t.Fatalf("%s_label/%s: class %d at %d, K is %d", c.phase, name, cls, i, sceneClasses)
						case sceneThing[cls] && (id < 1000 || id/1000 != int(cls)):
							t.Fatalf("%s_inst/%s: %s pixel %d has instance %d, want %d*1000+k", c.phase, name, sceneClassNames[cls], i, id, cls)
						case !sceneThing[cls] && id != int(cls):
							t.Fatalf("%s_inst/%s: %s pixel %d has instance %d, want its class %d", c.phase, name, sceneClassNames[cls], i, id, cls)
						}
					}
				}
			}
		})
	}
}

func TestScenesDeterministic(t *testing.T) {
	for _, c := range []struct {
		folder string
		seed   uint64
		i      int
	}{{"train_label", 1, 0}, {"train_inst", 1, 0}, {"train_img", 1, 0}, {"val_img", 7, 3}, {"test_inst", 7, 1}} {
		t.Run(c.folder, func(t *testing.T) {
			a, err := DrawRaster("labels2scenes", c.folder, 48, c.seed, c.i)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := DrawRaster("labels2scenes", c.folder, 48, c.seed, c.i)
			other, _ := DrawRaster("labels2scenes", c.folder, 48, c.seed+1, c.i)
			same, differ := true, false
			for k := range a.Data {
				same = same && a.Data[k] == b.Data[k]
				differ = differ || a.Data[k] != other.Data[k]
			}
			if !same {
				t.Error("one seed drew two different images")
			}
			if !differ {
				t.Error("another seed drew the same image")
			}
		})
	}
	// And the files: Generate twice, byte for byte, and as Draw draws.
	o := Options{Size: 40, NumTrain: 3, NumTest: 1, Seed: 11}
	d1, d2 := t.TempDir(), t.TempDir()
	for _, d := range []string{d1, d2} {
		if _, err := Generate(context.Background(), "labels2scenes", d, o); err != nil {
			t.Fatal(err)
		}
	}
	h1, h2 := digest(t, d1), digest(t, d2)
	if len(h1) != 4*5 || len(h2) != len(h1) {
		t.Fatalf("%d and %d files", len(h1), len(h2))
	}
	for k, v := range h1 {
		if h2[k] != v {
			t.Errorf("%s differs between two runs with one seed", k)
		}
	}
	m, err := Draw("labels2scenes", "train_img", o.Size, o.Seed, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, err := data.LoadImage(filepath.Join(d1, "train_img", "0002.png"))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Pix) != string(f.Pix) {
		t.Error("Draw differs from the file Generate wrote")
	}
	inst, err := DrawRaster("labels2scenes", "train_inst", o.Size, o.Seed, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, fi, _ := loadScene(t, d1, "train", "0002.png")
	for k := range fi {
		if fi[k] != inst.Data[k] {
			t.Fatal("DrawRaster's instance map differs from the file Generate wrote")
		}
	}
	if _, err := Draw("labels2scenes", "train_inst", 32, 0, 0); err == nil {
		t.Error("Draw of the 16-bit instance maps succeeded")
	}
}

// touchingPairs counts, per thing class, the pairs of distinct instances
// of that class that are 4-neighbours somewhere: boundaries the instance
// map has and the label map lacks.
func touchingPairs(sc *scene) map[int]int {
	size := sc.size
	inst := sc.instanceRaster().Data
	pairs := map[[2]float32]int{}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			for _, j := range []int{i + 1, i + size} {
				if (j == i+1 && x+1 == size) || j >= size*size {
					continue
				}
				if sc.label[i] == sc.label[j] && sceneThing[sc.label[i]] && inst[i] != inst[j] {
					pairs[[2]float32{min(inst[i], inst[j]), max(inst[i], inst[j])}] = int(sc.label[i])
				}
			}
		}
	}
	out := map[int]int{}
	for _, cls := range pairs {
		out[cls]++
	}
	return out
}

func TestScenesTouchingInstances(t *testing.T) {
	for _, size := range []int{64, 256} {
		perClass := map[int]int{}
		for i := 0; i < 12; i++ {
			sc := sceneOf(size, 5, i)
			n := 0
			for cls, k := range touchingPairs(sc) {
				n += k
				perClass[cls]++
			}
			if n == 0 {
				t.Errorf("size %d, scene %d: no two instances of one class touch", size, i)
			}
		}
		// Not only buildings: trees in clusters and queued cars touch in
		// some scenes too.
		for _, cls := range []int{scBuilding, scTree, scCar} {
			if perClass[cls] == 0 {
				t.Errorf("size %d: no touching %s instances in 12 scenes", size, sceneClassNames[cls])
			}
		}
	}
}

// energy is the mean absolute Laplacian of an image's luma at one scale
// (after box-averaging step×step blocks), over the blocks whose 3×3
// neighbourhood is all of class cls: how much texture there is at that
// scale inside a class, beyond what its edges give.
func energy(img *data.Image, label []uint8, cls uint8, step int) (float64, int) {
	w, h := img.W/step, img.H/step
	luma := make([]float64, w*h)
	pure := make([]bool, w*h)
	for by := 0; by < h; by++ {
		for bx := 0; bx < w; bx++ {
			sum, all := 0.0, true
			for y := by * step; y < (by+1)*step; y++ {
				for x := bx * step; x < (bx+1)*step; x++ {
					p := img.Pix[3*(y*img.W+x):]
					sum += 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
					all = all && label[y*img.W+x] == cls
				}
			}
			luma[by*w+bx], pure[by*w+bx] = sum/float64(step*step), all
		}
	}
	e, n := 0.0, 0
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			ok := true
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					ok = ok && pure[(y+dy)*w+x+dx]
				}
			}
			if !ok {
				continue
			}
			i := y*w + x
			e += math.Abs(4*luma[i] - luma[i-1] - luma[i+1] - luma[i-w] - luma[i+w])
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return e / float64(n), n
}

func TestScenesTextureAtSeveralScales(t *testing.T) {
	// A smooth fill (a gradient over the whole image, as a generator that
	// paints classes flat and shades them would) has a Laplacian of about
	// 0 at every scale, 8-bit rounding aside; the rendering must have class
	// textures at the pixel scale and at 4× it, well above that.
	const size = 256
	smooth := &data.Image{W: size, H: size, C: 3, Pix: make([]uint8, size*size*3)}
	for i := range size * size {
		v := uint8(60 + 120*float64(i/size)/size)
		smooth.Pix[3*i], smooth.Pix[3*i+1], smooth.Pix[3*i+2] = v, v, v
	}
	for _, c := range []struct {
		cls  uint8
		step int
		min  float64 // mean |Laplacian| in 8-bit levels
	}{
		// About half of what the rendering had when written: bricks and
		// mortar, blades, leaves and clumps, asphalt grain.
		{scBuilding, 1, 20}, {scBuilding, 4, 6},
		{scGrass, 1, 15}, {scGrass, 4, 8},
		{scTree, 1, 8}, {scTree, 4, 12},
		{scRoad, 1, 6},
	} {
		var sum, flat float64
		blocks := 0
		for i := 0; i < 6; i++ {
			sc := sceneOf(size, 21, i)
			e, n := energy(sc.render(), sc.label, c.cls, c.step)
			f, _ := energy(smooth, sc.label, c.cls, c.step)
			sum += e * float64(n)
			flat += f * float64(n)
			blocks += n
		}
		if blocks < 50 {
			t.Errorf("%s at scale %d: only %d blocks inside the class", sceneClassNames[c.cls], c.step, blocks)
			continue
		}
		e, f := sum/float64(blocks), flat/float64(blocks)
		t.Logf("%-8s scale %d: mean |Laplacian| %.2f over %d blocks (smooth fill %.2f)", sceneClassNames[c.cls], c.step, e, blocks, f)
		if want := max(c.min, 4*f); e < want {
			t.Errorf("%s at scale %d: mean |Laplacian| %.2f, want at least %.1f (a smooth fill has %.2f)", sceneClassNames[c.cls], c.step, e, want, f)
		}
	}
}

func TestScenesColoursFollowLabels(t *testing.T) {
	// The mapping label → appearance is mostly fixed: over many scenes,
	// each class's mean colour stays near its own and apart from the
	// others' (sky blue and bright, grass green, road grey and dark).
	var sum [sceneClasses][3]float64
	var n [sceneClasses]float64
	for i := 0; i < 10; i++ {
		sc := sceneOf(96, 4, i)
		img := sc.render()
		for k, cls := range sc.label {
			for c := 0; c < 3; c++ {
				sum[cls][c] += float64(img.Pix[3*k+c])
			}
			n[cls]++
		}
	}
	mean := func(cls int) [3]float64 {
		return [3]float64{sum[cls][0] / n[cls], sum[cls][1] / n[cls], sum[cls][2] / n[cls]}
	}
	sky, grass, road := mean(scSky), mean(scGrass), mean(scRoad)
	if !(sky[2] > sky[0] && sky[2] > 150) {
		t.Errorf("sky's mean colour %.0f is not a light blue", sky)
	}
	if !(grass[1] > grass[0] && grass[1] > grass[2]) {
		t.Errorf("grass's mean colour %.0f is not green", grass)
	}
	if hi, lo := max(road[0], road[1], road[2]), min(road[0], road[1], road[2]); hi-lo > 20 || hi > 140 {
		t.Errorf("road's mean colour %.0f is not a dark grey", road)
	}
}

func TestScenesLoad(t *testing.T) {
	// pix2pixhd, the mode the dataset is for, reads it with the report's
	// flags: class ids below K, instance ids as written, RGB targets.
	if _, ok := data.LookupMode("pix2pixhd"); !ok {
		t.Skip("no pix2pixhd dataset mode in this build")
	}
	dir := t.TempDir()
	rep, err := Generate(context.Background(), "labels2scenes", dir, Options{Size: 32, NumTrain: 3, NumTest: 1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	o := trainOptions(t, dir, rep)
	o.Preprocess, o.NoFlip = "none", true
	l, err := data.Create(o, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := l.Epoch(context.Background(), 0)
	defer e.Close()
	b, err := e.Next()
	if err != nil {
		t.Fatal(err)
	}
	a, img, inst := b.Arrays["A"], b.Arrays["B"], b.Arrays["inst"]
	if a == nil || img == nil || inst == nil {
		t.Fatalf("arrays %v", b.Arrays)
	}
	if fmt.Sprint(a.Shape) != "[1 1 32 32]" || fmt.Sprint(img.Shape) != "[1 3 32 32]" || fmt.Sprint(inst.Shape) != "[1 1 32 32]" {
		t.Fatalf("shapes: label %v, image %v, instances %v", a.Shape, img.Shape, inst.Shape)
	}
	things := 0
	for i, v := range a.Data {
		if v < 0 || v >= sceneClasses || v != float32(int(v)) {
			t.Fatalf("label %g", v)
		}
		id := int(inst.Data[i])
		if sceneThing[int(v)] && id/1000 == int(v) {
			things++
		} else if id != int(v) {
			t.Fatalf("instance %d on class %d", id, int(v))
		}
	}
	if things == 0 {
		t.Error("no thing instances loaded")
	}
}

func TestScenesFast(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 150 images at 512 pixels")
	}
	// 50 of the default 240 scenes (200 train, 20 test, 20 val): the
	// whole set should take well under a minute on two cores.
	start := time.Now()
	if _, err := Generate(context.Background(), "labels2scenes", t.TempDir(), Options{Size: 512, NumTrain: 40, NumTest: 5, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	all := d * 240 / 50
	t.Logf("labels2scenes at 512 pixels: 50 scenes in %v, so the default 240 in about %v on %d CPUs", d, all.Round(time.Second), runtime.NumCPU())
	if all > time.Duration(4/min(runtime.NumCPU(), 2))*time.Minute {
		t.Errorf("the default set would take %v", all)
	}
}

// TestScenesExample writes one 512-pixel scene side by side, for a person
// to look at: the label map in colour, the instance map's edges, the
// rendering. It runs when CYCLEPIX_SCENES_EXAMPLE names the PNG to write.
func TestScenesExample(t *testing.T) {
	path := os.Getenv("CYCLEPIX_SCENES_EXAMPLE")
	if path == "" {
		t.Skip("set CYCLEPIX_SCENES_EXAMPLE=out.png to write an example")
	}
	const size = 512
	palette := [sceneClasses][3]uint8{
		scSky: {70, 130, 180}, scRoad: {128, 64, 128}, scGrass: {152, 251, 152}, scBuilding: {70, 70, 70},
		scWindow: {250, 170, 30}, scTree: {107, 142, 35}, scCar: {0, 0, 142}, scPerson: {220, 20, 60},
	}
	sc := sceneOf(size, 0, 0)
	inst := sc.instanceRaster().Data
	img := sc.render()
	out := image.NewRGBA(image.Rect(0, 0, 3*size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			set := func(panel int, c [3]uint8) {
				o := out.PixOffset(panel*size+x, y)
				copy(out.Pix[o:o+3], c[:])
				out.Pix[o+3] = 255
			}
			set(0, palette[sc.label[i]])
			edge := (x+1 < size && inst[i+1] != inst[i]) || (y+1 < size && inst[i+size] != inst[i]) ||
				(x > 0 && inst[i-1] != inst[i]) || (y > 0 && inst[i-size] != inst[i])
			if edge {
				set(1, [3]uint8{255, 255, 255})
			} else {
				set(1, [3]uint8{0, 0, 0})
			}
			set(2, [3]uint8{img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2]})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, out); err != nil {
		t.Fatal(err)
	}
}
