package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/cli"
	"cyclepix/data"
	"cyclepix/data/builtin"
	"cyclepix/data/raster"
	"cyclepix/torch"
)

// writeQualityResults writes n samples of built-in images as a `cyclepix
// test` result folder results/<name>/test_latest, visual → (folder, crop
// of the drawn image: "" whole, "left"/"right" half of a pair).
func writeQualityResults(t *testing.T, root, name, dataset string, size, n int, visuals map[string][2]string) {
	t.Helper()
	dir := filepath.Join(root, name, "test_latest", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for v, src := range visuals {
		for i := 0; i < n; i++ {
			m, err := builtin.Draw(dataset, src[0], size, 8, i)
			if err != nil {
				t.Fatal(err)
			}
			switch src[1] {
			case "left":
				m = m.Crop(0, 0, size, size)
			case "right":
				m = m.Crop(size, 0, size, size)
			}
			if err := data.SaveImage(filepath.Join(dir, fmt.Sprintf("%04d_%s.png", i, v)), m); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeStainResults writes n fluo2he samples as `cyclepix test` does for
// its 4-channel TIFF inputs: <i>_real_A.tif and its preview
// <i>_real_A.png, <i>_real_B.png, and as <i>_fake_B.png the H&E image
// (right) or the input's preview.
func writeStainResults(t *testing.T, root, name string, size, n int, right bool) {
	t.Helper()
	dir := filepath.Join(root, name, "test_latest", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		a, err := builtin.DrawRaster("fluo2he", "testA", size, 8, i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := builtin.Draw("fluo2he", "testB", size, 8, i)
		if err != nil {
			t.Fatal(err)
		}
		chw := make([]float32, len(a.Data))
		for j, v := range a.Data {
			chw[j] = v/4095*2 - 1
		}
		preview, err := data.Preview(chw, a.C, a.H, a.W, []int{0, 1, 2})
		if err != nil {
			t.Fatal(err)
		}
		fake := preview
		if right {
			fake = b
		}
		stem := filepath.Join(dir, fmt.Sprintf("%04d", i))
		if err := raster.WriteTIFF(stem+"_real_A.tif", a); err != nil {
			t.Fatal(err)
		}
		for v, m := range map[string]*data.Image{"real_A": preview, "real_B": b, "fake_B": fake} {
			if err := data.SaveImage(stem+"_"+v+".png", m); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestEvalQuality(t *testing.T) {
	torch.LockThread()
	root := t.TempDir()
	// A pix2pix that outputs its input: far from the photos.
	writeQualityResults(t, root, "copy", "shapes2photos", 32, 4,
		map[string][2]string{"real_A": {"test", "left"}, "fake_B": {"test", "left"}, "real_B": {"test", "right"}})
	// One that outputs the photos themselves.
	writeQualityResults(t, root, "perfect", "shapes2photos", 32, 4,
		map[string][2]string{"real_A": {"test", "left"}, "fake_B": {"test", "right"}, "real_B": {"test", "right"}})
	// A CUT-like result (no rec_A) of a model that changes nothing.
	writeQualityResults(t, root, "cut", "blobs2zebras", 48, 6,
		map[string][2]string{"real_A": {"testA", ""}, "fake_B": {"testA", ""}, "real_B": {"testB", ""}})

	// Virtual staining: TIFF inputs with previews, H&E outputs.
	writeStainResults(t, root, "stain", 48, 4, true)
	writeStainResults(t, root, "stain_preview", 48, 4, false)

	run := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := cli.Run(append([]string{"eval", "--results_dir", root}, args...), &o, &e)
		return o.String(), e.String(), code
	}
	jsonPath := filepath.Join(root, "q.json")
	sbs := filepath.Join(root, "sbs", "side_by_side.png")
	sbsStain := filepath.Join(root, "sbs", "stain.png")
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // each must appear
		stderr   string
		jsonPass any // nil: no JSON expected
	}{
		{"paired, failing, not strict", []string{"--quality", "shapes2photos", "--name", "copy", "--json", jsonPath}, 0,
			[]string{"l1 ", "FAIL", "FAIL: 3 of 3 checked figures miss their thresholds: l1 "}, "", false},
		{"paired, failing, strict", []string{"--quality", "shapes2photos", "--name", "copy", "--strict"}, 1,
			[]string{"FAIL: 3 of 3"}, "cyclepix eval: --strict: 3 quality figures of " + filepath.Join(root, "copy", "test_latest", "images") + " miss their thresholds", nil},
		{"paired, passing, strict", []string{"--quality", "shapes2photos", "--name", "perfect", "--strict", "--json", jsonPath}, 0,
			[]string{"PASS: all 3 checked figures meet their thresholds"}, "", true},
		{"threshold override makes it pass", []string{"--quality", "shapes2photos", "--name", "copy", "--strict", "--threshold", "l1=1,psnr=0,ssim=-1"}, 0,
			[]string{"PASS: all 3"}, "", nil},
		{"unpaired without a cycle", []string{"--quality", "blobs2zebras", "--results", filepath.Join(root, "cut", "test_latest"), "--side_by_side", sbs, "--side_by_side_rows", "2"}, 0,
			[]string{"classifier_accuracy", "fake_B_as_B", "skipped: rec_A_psnr: the results have no rec_A images", "FAIL: 2 of 6 checked figures miss their thresholds: fake_B_as_B 0.0 % < 80.0 %, fake_B_blob_chroma ", "side by side: " + sbs}, "", nil},
		{"virtual staining, right", []string{"--quality", "fluo2he", "--name", "stain", "--strict", "--side_by_side", sbsStain}, 0,
			[]string{"nuclei_error", "PASS: all 4 checked figures meet their thresholds", "side by side: " + sbsStain}, "", nil},
		{"virtual staining, the input's preview as output", []string{"--quality", "fluo2he", "--name", "stain_preview"}, 0,
			[]string{"FAIL: 4 of 4 checked figures miss their thresholds: l1 "}, "", nil},
		{"unknown dataset", []string{"--quality", "horse2zebra", "--name", "copy"}, 1, nil, `--quality "horse2zebra": no checks for that dataset (choose from blobs2zebras, fluo2he, labels2scenes, shapes2photos)`, nil},
		{"unknown figure", []string{"--quality", "shapes2photos", "--name", "copy", "--threshold", "fid=3"}, 1, nil, `--threshold: unknown figure "fid" for shapes2photos`, nil},
		{"bad threshold", []string{"--quality", "shapes2photos", "--name", "copy", "--threshold", "l1"}, 1, nil, `--threshold "l1": want FIGURE=NUMBER`, nil},
		{"no such run", []string{"--quality", "shapes2photos", "--name", "nope"}, 1, nil, "--name nope: no results at " + filepath.Join(root, "nope", "test_latest"), nil},
		{"strict without quality", []string{"--name", "copy", "--strict"}, 1, nil, "--strict goes with --quality NAME", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(jsonPath)
			out, errOut, code := run(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errOut)
			}
			for _, s := range c.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if c.stderr != "" && !strings.Contains(errOut, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, errOut)
			}
			if c.jsonPass != nil {
				b, err := os.ReadFile(jsonPath)
				if err != nil {
					t.Fatal(err)
				}
				var v map[string]any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatal(err)
				}
				if v["pass"] != c.jsonPass || v["dataset"] != "shapes2photos" {
					t.Errorf("JSON pass %v dataset %v, want %v shapes2photos", v["pass"], v["dataset"], c.jsonPass)
				}
			}
		})
	}
	// The side-by-side image: 2 rows of the 3 visuals, 48-pixel images
	// doubled to 96.
	m, err := data.LoadImage(sbs)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3*(96+4) + 4; m.W != want {
		t.Errorf("side-by-side is %d wide, want %d", m.W, want)
	}
	if want := 13 + 4 + 2*(96+4) + 4; m.H != want {
		t.Errorf("side-by-side is %d high, want %d", m.H, want)
	}
	// The staining one shows the inputs' 8-bit previews, not their TIFFs:
	// real_A's cells are the preview's colours.
	m, err = data.LoadImage(sbsStain)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3*(96+4) + 4; m.W != want {
		t.Errorf("staining side-by-side is %d wide, want %d", m.W, want)
	}
	a, err := builtin.DrawRaster("fluo2he", "testA", 48, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	preview, err := data.LoadImage(filepath.Join(root, "stain", "test_latest", "images", "0000_real_A.png"))
	if err != nil {
		t.Fatal(err)
	}
	// Pixel (x, y) of the first real_A cell, which starts after the
	// caption row (13 pixels and a gap of 4) and a gap of 4 on the left,
	// doubled.
	x, y, top := 10, 20, 13+4
	got := m.Pix[((top+2*y)*m.W+4+2*x)*3:][:3]
	if want := preview.Pix[(y*48+x)*3:][:3]; !bytes.Equal(got, want) {
		t.Errorf("side-by-side real_A pixel %v, the preview's %v (file value %g)", got, want, a.Plane(0)[y*48+x])
	}
}

// TestDataBuiltinFluo2HE: `data builtin` lists the scientific dataset with
// its channels and ranges, and says which flags train on what it wrote.
func TestDataBuiltinFluo2HE(t *testing.T) {
	var o, e bytes.Buffer
	if code := cli.Run([]string{"data", "builtin"}, &o, &e); code != 1 ||
		!strings.Contains(e.String(), "fluo2he        paired (trainA/testA/valA ↔ trainB/testB/valB by name): 4-page uint16 TIFFs of a 12-bit camera, 0..4095 (0 DAPI nuclei") {
		t.Errorf("exit %d, listing:\n%s", code, e.String())
	}
	dir := filepath.Join(t.TempDir(), "f")
	o.Reset()
	e.Reset()
	if code := cli.Run([]string{"data", "builtin", "fluo2he", "--out", dir, "--size", "32", "--num_train", "2", "--num_test", "1"}, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	want := "wrote 8 images to " + dir + "; train with --dataroot " + dir + " --dataset_mode paired --input_nc 4 --output_nc 3 --range_A 0:4095\n"
	if o.String() != want {
		t.Errorf("stdout %q, want %q", o.String(), want)
	}
}
