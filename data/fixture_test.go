package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cyclepix/internal/testsupport"
)

// fixtureCase is one entry of the preprocess parity fixture's case.json.
type fixtureCase struct {
	Image   string `json:"image"`
	Variant string `json:"variant"`
	Opt     struct {
		Preprocess string `json:"preprocess"`
		LoadSize   int    `json:"load_size"`
		CropSize   int    `json:"crop_size"`
		NoFlip     bool   `json:"no_flip"`
	} `json:"opt"`
	Grayscale bool `json:"grayscale"`
	Params    struct {
		CropPos [2]int `json:"crop_pos"`
		Flip    bool   `json:"flip"`
	} `json:"params"`
	PIL string `json:"pil_intermediate"`
}

func preprocessFixture(t *testing.T) (string, []fixtureCase) {
	t.Helper()
	dir := filepath.Join(testsupport.ParityDir(), "preprocess")
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Skipf("no preprocess fixture: %v", err)
	}
	var c struct {
		Results []fixtureCase `json:"results"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return dir, c.Results
}

// TestPreprocessMatchesPIL is the fast, torch-free half of the parity
// check (parity/preprocess_test.go also compares the tensors): every
// 8-bit intermediate must equal Pillow's byte for byte.
func TestPreprocessMatchesPIL(t *testing.T) {
	dir, cases := preprocessFixture(t)
	for _, fc := range cases {
		t.Run(fc.Image+"/"+fc.Variant, func(t *testing.T) {
			src, err := LoadImage(filepath.Join(dir, fc.Image))
			if err != nil {
				t.Fatal(err)
			}
			o := &Options{Preprocess: fc.Opt.Preprocess, LoadSize: fc.Opt.LoadSize, CropSize: fc.Opt.CropSize, NoFlip: fc.Opt.NoFlip}
			nc := 3
			if fc.Grayscale {
				nc = 1
			}
			got, err := ApplyTransform(src, o, Params{CropX: fc.Params.CropPos[0], CropY: fc.Params.CropPos[1], Flip: fc.Params.Flip}, nc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := LoadImage(filepath.Join(dir, fc.PIL))
			if err != nil {
				t.Fatal(err)
			}
			if got.W != want.W || got.H != want.H || got.C != want.C {
				t.Fatalf("size %dx%dx%d, want %dx%dx%d", got.W, got.H, got.C, want.W, want.H, want.C)
			}
			diffs, maxd := 0, 0
			for i := range want.Pix {
				d := int(got.Pix[i]) - int(want.Pix[i])
				if d != 0 {
					diffs++
					maxd = max(maxd, d, -d)
				}
			}
			if diffs > 0 {
				t.Errorf("%d of %d bytes differ from PIL (max %d)", diffs, len(want.Pix), maxd)
			}
		})
	}
}
