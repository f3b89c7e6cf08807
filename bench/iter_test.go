package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"cyclepix/cli"
	"cyclepix/internal/testsupport/torchtest"
	"cyclepix/torch"
)

// TestMain runs the tests, or, with CYCLEPIX_BENCH_AS_CLI=1, acts as the
// cyclepix command itself (for the serve suite's test, which starts
// `cyclepix serve` as a child process).
func TestMain(m *testing.M) {
	if os.Getenv("CYCLEPIX_BENCH_AS_CLI") == "1" {
		if err := torch.Init(); err != nil {
			fmt.Fprintln(os.Stderr, "cyclepix:", err)
			os.Exit(2)
		}
		os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	torchtest.Main(m)
}

func TestParseWH(t *testing.T) {
	for s, want := range map[string][2]int{"512x256": {512, 256}, "1024X512": {1024, 512}, " 64 ": {64, 64}} {
		w, h, err := parseWH(s)
		if err != nil || w != want[0] || h != want[1] {
			t.Errorf("parseWH(%q) = %d, %d, %v; want %v", s, w, h, err, want)
		}
	}
	for _, s := range []string{"", "x", "512x", "512x250", "0x64", "-16x16", "axb"} {
		if _, _, err := parseWH(s); err == nil {
			t.Errorf("parseWH(%q): no error", s)
		}
	}
	got, err := iterSizes("pix2pixhd", "128,256", "512x256, 1024x512,")
	if err != nil || strings.Join(got, ",") != "512x256,1024x512" {
		t.Errorf("iterSizes(pix2pixhd) = %v, %v", got, err)
	}
	if got, err = iterSizes("cycle_gan", "128,256", "512x256"); err != nil || strings.Join(got, ",") != "128,256" {
		t.Errorf("iterSizes(cycle_gan) = %v, %v", got, err)
	}
}

// TestIterPix2PixHD runs the iter suite's pix2pixhd configuration on both
// sides with narrow networks at 64×32 (the PyTorch side when
// /usr/bin/python3 has torch, not with -short): both count the same
// convolution FLOPs once the reference's extra work (D's weight gradients
// in the G pass) is taken out, and that extra is there and named.
func TestIterPix2PixHD(t *testing.T) {
	torch.SetNumThreads(1)
	hd := hdOptions{Width: 4}
	ours, err := iterCyclepix("pix2pixhd:64x32", 1, hd)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours.Times) != 1 || ours.FLOPs <= 0 || ours.PeakRSSKB <= 0 || ours.ExtraFLOPs != 0 {
		t.Fatalf("cyclepix side: %+v", ours)
	}
	if _, err := iterCyclepix("pix2pixhd:64x32:loader", 1, hd); err == nil {
		t.Error("pix2pixhd with the loader: no error")
	}
	const python = "/usr/bin/python3"
	if testing.Short() {
		t.Skip("-short: not running the PyTorch side")
	}
	if exec.Command(python, "-c", "import torch").Run() != nil {
		t.Skipf("%s has no torch", python)
	}
	ref, err := runScript(python, "iter.py", "pix2pixhd 64x32 --width 4", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ExtraFLOPs <= 0 || ref.ExtraFLOPs >= ref.FLOPs {
		t.Fatalf("PyTorch side: flops %d, extra %d", ref.FLOPs, ref.ExtraFLOPs)
	}
	if d := float64(ours.FLOPs)/float64(ref.FLOPs-ref.ExtraFLOPs) - 1; d < -0.01 || d > 0.01 {
		t.Errorf("FLOPs: cyclepix %d, PyTorch %d - %d extra (%+.2f%%)", ours.FLOPs, ref.FLOPs, ref.ExtraFLOPs, 100*d)
	}
	notes := flopsNotes("pix2pixhd:64x32", ours, ref)
	if len(notes) != 1 || !strings.Contains(notes[0], "weight gradients in the G pass") {
		t.Errorf("notes %q: want the extra work's only", notes)
	}
}

// TestInferGenerators: every generator of the infer suite builds and
// translates an image of the suite's smallest size for it.
func TestInferGenerators(t *testing.T) {
	for _, netG := range inferNets {
		size := 64
		if netG == "unet_256" {
			size = 256 // its eight downsamplings
		}
		t.Run(netG, func(t *testing.T) {
			r, err := inferCyclepix(netG+":"+strconv.Itoa(size), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Times) != 1 || r.FLOPs <= 0 {
				t.Errorf("got %d times and %d FLOPs, want 1 time and a count", len(r.Times), r.FLOPs)
			}
		})
	}
	if _, err := benchGenerator("resnet_8blocks_typo"); err == nil {
		t.Error("an unknown generator built")
	}
}
