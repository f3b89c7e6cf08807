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

	run := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := cli.Run(append([]string{"eval", "--results_dir", root}, args...), &o, &e)
		return o.String(), e.String(), code
	}
	jsonPath := filepath.Join(root, "q.json")
	sbs := filepath.Join(root, "sbs", "side_by_side.png")
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
		{"unknown dataset", []string{"--quality", "horse2zebra", "--name", "copy"}, 1, nil, `--quality "horse2zebra": no checks for that dataset (choose from blobs2zebras, shapes2photos)`, nil},
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
}
