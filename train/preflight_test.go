package train

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreflightWarnings: each unusual combination gives its one warning,
// and the usual ones none.
func TestPreflightWarnings(t *testing.T) {
	ds := datasets(t) // 32-pixel images, 6 per training folder
	b2z, s2p := ds["blobs2zebras"], ds["shapes2photos"]
	cases := []struct {
		name  string
		train bool
		args  []string
		want  []string // a substring of each warning, in order
	}{
		{"cycle_gan on unaligned data", true, []string{"--dataroot", b2z}, nil},
		{"pix2pix on aligned data", true, []string{"--model", "pix2pix", "--dataroot", s2p}, nil},
		{"pix2pix on unaligned data", true, []string{"--model", "pix2pix", "--dataset_mode", "unaligned", "--dataroot", b2z},
			[]string{"--model pix2pix learns from paired images, but --dataroot " + b2z + " looks unaligned (trainA and trainB, no train/)"}},
		{"colorization is paired too", true, []string{"--model", "colorization", "--dataset_mode", "unaligned", "--input_nc", "1", "--output_nc", "1", "--dataroot", b2z},
			[]string{"--model colorization learns from paired images"}},
		{"batch larger than the data", true, []string{"--dataroot", b2z, "--batch_size", "7"},
			[]string{"--batch_size 7 is more than the 6 images of --dataroot " + b2z + ": every epoch is one batch of 6"}},
		{"batch as large as the data", true, []string{"--dataroot", b2z, "--batch_size", "6"}, nil},
		{"ranks times batch", true, []string{"--dataroot", b2z, "--batch_size", "4", "--nproc", "2"}, []string{"--batch_size 8 is more than the 6 images"}},
		{"test batches are not training steps", false, []string{"--model", "cycle_gan", "--dataset_mode", "unaligned", "--dataroot", b2z, "--batch_size", "7"}, nil},
		{"crop larger than most images", true, []string{"--model", "pix2pix", "--netG", "resnet_1blocks", "--dataroot", pairs(t, 5, 3), "--preprocess", "crop", "--crop_size", "40"},
			[]string{"--crop_size 40 is larger than 5 of the first 8 images of train after --preprocess crop (the smallest is 48x32): use --crop_size 32, or resize first with --preprocess resize_and_crop --load_size 286"}},
		{"crop larger than a few images", true, []string{"--model", "pix2pix", "--netG", "resnet_1blocks", "--dataroot", pairs(t, 3, 5), "--preprocess", "crop", "--crop_size", "40"}, nil},
		{"crop after resizing", true, []string{"--model", "pix2pix", "--netG", "resnet_1blocks", "--dataroot", pairs(t, 5, 3), "--load_size", "44", "--crop_size", "40"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := ParseOptions(c.train, append(c.args, "--checkpoints_dir", t.TempDir()), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Preflight(o, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d warnings, want %d:\n%s", len(got), len(c.want), buf.String())
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], "level=WARN") || !strings.Contains(got[i], w) {
					t.Errorf("warning %q\nwant a warning containing %q", got[i], w)
				}
			}
		})
	}
}

// pairs writes an aligned dataset of short A|B pairs (each half 48x32)
// followed by square ones (48x48), in file order.
func pairs(t *testing.T, short, square int) string {
	root := t.TempDir()
	dir := filepath.Join(root, "train")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range short + square {
		h := 32
		if i >= short {
			h = 48
		}
		var b bytes.Buffer
		if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 96, h))); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
