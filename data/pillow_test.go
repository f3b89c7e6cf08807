package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

type pillowEntry struct {
	File       string `json:"file"`
	PillowMode string `json:"pillow_mode"`
	Size       []int  `json:"size"`
	Error      string `json:"error"`
}

// pillowCorpus writes the files of testdata/pillow_corpus.py and returns
// its folder and manifest.
func pillowCorpus(t testing.TB) (string, []pillowEntry) {
	t.Helper()
	testsupport.NeedPythonLong(t, "PIL, numpy, skimage")
	if _, err := exec.LookPath("cjpeg"); err != nil {
		t.Skip("cjpeg (libjpeg-turbo-progs) is not installed")
	}
	dir := t.TempDir()
	testsupport.RunPythonFile(t, "testdata/pillow_corpus.py", dir)
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []pillowEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// refusedOnPurpose are the corpus files Pillow reads that DecodeImage
// refuses, with what its error must say. Pillow converts CIELab TIFFs to
// RGB with a formula of its own; they are too rare in training data to
// reproduce it, and the error says how to convert them.
var refusedOnPurpose = map[string]string{
	"hand_lab.tif": "CIELab TIFF",
}

// TestDecodeMatchesPillow decodes every file of the corpus (JPEG in each
// variant libjpeg reads, PNG in every colour type and depth, BMP, TIFF
// in every mode and compression, PPM/PGM at several maxvals, damaged
// files) and compares with Pillow's convert('RGB') and
// convert('RGB').convert('L'), byte for byte. Where Pillow fails, so
// must DecodeImage.
func TestDecodeMatchesPillow(t *testing.T) {
	dir, corpus := pillowCorpus(t)
	for _, e := range corpus {
		t.Run(e.File, func(t *testing.T) {
			path := filepath.Join(dir, e.File)
			img, err := LoadImageDepth(path, DepthPillow)
			if e.Error != "" {
				if err == nil {
					t.Fatalf("decoded %dx%d where Pillow fails with %s", img.W, img.H, e.Error)
				}
				t.Logf("Pillow: %s; cyclepix: %v", e.Error, err)
				return
			}
			if want, ok := refusedOnPurpose[e.File]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one that says %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Pillow reads it (mode %s): %v", e.PillowMode, err)
			}
			if img.W != e.Size[0] || img.H != e.Size[1] || img.HighDepth() {
				t.Fatalf("decoded %dx%d high=%v, Pillow %dx%d", img.W, img.H, img.HighDepth(), e.Size[0], e.Size[1])
			}
			for _, c := range []struct {
				ext string
				got *Image
			}{{".rgb", img.RGB()}, {".l", img.Gray()}} {
				want, err := os.ReadFile(path + c.ext)
				if err != nil {
					t.Fatal(err)
				}
				if diff := byteDiff(c.got.Pix, want); diff != "" {
					t.Errorf("%s (Pillow mode %s): %s", c.ext, e.PillowMode, diff)
				}
			}
		})
	}
}

// byteDiff describes how two pixel buffers differ, or returns "".
func byteDiff(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, Pillow %d", len(got), len(want))
	}
	if bytes.Equal(got, want) {
		return ""
	}
	n, worst, first := 0, 0, -1
	for i := range got {
		if d := int(got[i]) - int(want[i]); d != 0 {
			n++
			worst = max(worst, d, -d)
			if first < 0 {
				first = i
			}
		}
	}
	return fmt.Sprintf("%d of %d bytes differ (max %d levels; first at %d: %d, Pillow %d)", n, len(got), worst, first, got[first], want[first])
}
