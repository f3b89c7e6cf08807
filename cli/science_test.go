package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cyclepix/cli"
	"cyclepix/data/raster"
	"cyclepix/internal/testsupport"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/internal/testsupport/sciencedata"
	"cyclepix/options"
)

// run runs a cyclepix command and fails the test unless it exits 0.
func run(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := clitest.Run(args...)
	if code != 0 {
		t.Fatalf("cyclepix %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func readRaster(t *testing.T, path string) *raster.Raster {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := raster.Decode(b, path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The scientific path end to end on tiny data: a paired 5-channel uint16
// TIFF → 2-channel float .npy pix2pix run trains, tests, evaluates on the
// data's scale, translates, exports (bundle, ONNX) and serves, its outputs
// coming back as float32 .npy on B's declared range; and the same
// translation computed by PyTorch from the bundle agrees within 1e-5 of
// the range.
func TestSciencePairedEndToEnd(t *testing.T) {
	root := t.TempDir()
	paired, _ := sciencedata.Write(t, root)
	ck, res := filepath.Join(root, "ck"), filepath.Join(root, "results")
	run(t, "train", "--dataroot", paired, "--name", "sci", "--checkpoints_dir", ck, "--model", "pix2pix", "--dataset_mode", "paired",
		"--input_nc", "5", "--output_nc", "2", "--range_A", "p1:p99", "--range_B", "-1:3", "--netG", "unet_32", "--ngf", "4", "--ndf", "4",
		"--load_size", "36", "--crop_size", "32", "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2", "--seed", "1",
		"--display_freq", "100", "--print_freq", "100", "--num_threads", "1")
	run(t, "test", "--dataroot", paired, "--dataset_mode", "paired", "--name", "sci", "--checkpoints_dir", ck, "--results_dir", res,
		"--phase", "test", "--num_test", "all", "--preprocess", "crop", "--crop_size", "32", "--eval")

	// eval finds the run's recorded range_B and scores the .npy files.
	jsonPath := filepath.Join(root, "eval.json")
	out := run(t, "eval", "--name", "sci", "--results_dir", res, "--checkpoints_dir", ck, "--json", jsonPath)
	if !strings.Contains(out, "data range per channel 4,4") || !strings.Contains(out, "mean") {
		t.Errorf("eval output:\n%s", out)
	}
	var scores map[string]any
	if b, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(b, &scores) != nil {
		t.Fatalf("eval json: %v", err)
	}
	for _, k := range []string{"MAE", "PSNR[c1]", "SSIM[c0]", "Pearson"} {
		if _, ok := scores[k]; !ok {
			t.Errorf("eval json lacks %s: %v", k, scores)
		}
	}
	// eval --help is the options layer's.
	if stdout, stderr, _ := clitest.Run("eval", "--help"); !strings.Contains(stdout+stderr, "Usage: cyclepix eval [options]") ||
		!strings.Contains(stdout+stderr, "  --eval_mask STRING") {
		t.Errorf("eval --help:\n%s%s", stdout, stderr)
	}

	// translate: a 36×36 TIFF at its own size → a float32 .npy on B's scale.
	in := filepath.Join(paired, "testA", "s0.tif")
	run(t, "translate", "--name", "sci", "--checkpoints_dir", ck, "--input", in, "--output", filepath.Join(root, "tr"))
	got := readRaster(t, filepath.Join(root, "tr", "s0.npy"))
	if got.C != 2 || got.W != 36 || got.H != 36 || got.DType != raster.Float32 {
		t.Fatalf("translate wrote %s, want 2×36×36 float32", got.Shape())
	}
	for _, v := range got.Data {
		if !(v >= -1 && v <= 3) {
			t.Fatalf("output value %v outside range_B -1:3", v)
		}
	}
	run(t, "translate", "--name", "sci", "--checkpoints_dir", ck, "--input", in, "--output", filepath.Join(root, "tr_tif"), "--format", "tif")
	if r := readRaster(t, filepath.Join(root, "tr_tif", "s0.tif")); r.DType != raster.Float32 || !equalValues(r.Data, got.Data) {
		t.Errorf("--format tif: %s, values equal %v", r.Shape(), equalValues(r.Data, got.Data))
	}
	if _, stderr, code := clitest.Run("translate", "--name", "sci", "--checkpoints_dir", ck, "--input", in, "--output",
		filepath.Join(root, "tr_png"), "--format", "png"); code == 0 || !strings.Contains(stderr, "PNG cannot: use --output_format tif or npy") {
		t.Errorf("float outputs as PNG: exit %d, %s", code, stderr)
	}

	// --tile: a TIFF written as TIFF is translated a band of rows at a
	// time (bounded memory) and equals the in-memory tiled translation
	// written as .npy.
	big := filepath.Join(root, "big", "wide.tif")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	src := readRaster(t, in)
	wide := raster.New(110, 75, 5, raster.Uint16)
	for c := 0; c < 5; c++ {
		for y := 0; y < 75; y++ {
			for x := 0; x < 110; x++ {
				wide.Plane(c)[y*110+x] = src.Plane(c)[(y%36)*36+x%36]
			}
		}
	}
	if err := raster.WriteTIFF(big, wide); err != nil {
		t.Fatal(err)
	}
	tiled := []string{"translate", "--name", "sci", "--checkpoints_dir", ck, "--input", big, "--tile", "32", "--tile_overlap", "8"}
	run(t, append(tiled, "--output", filepath.Join(root, "tiled_tif"), "--output_format", "tif")...)
	run(t, append(tiled, "--output", filepath.Join(root, "tiled_npy"))...)
	bandsOut, memOut := readRaster(t, filepath.Join(root, "tiled_tif", "wide.tif")), readRaster(t, filepath.Join(root, "tiled_npy", "wide.npy"))
	if bandsOut.W != 110 || bandsOut.H != 75 || bandsOut.C != 2 || !equalValues(bandsOut.Data, memOut.Data) {
		t.Errorf("banded --tile translation (%s) differs from the in-memory one (%s)", bandsOut.Shape(), memOut.Shape())
	}

	// export: a bundle (translate with it gives the same file) and ONNX.
	bundle := filepath.Join(root, "sci.bundle.pth")
	run(t, "export", "--name", "sci", "--checkpoints_dir", ck, "--format", "bundle", "--out", bundle)
	run(t, "translate", "--bundle", bundle, "--input", in, "--output", filepath.Join(root, "tr_bundle"))
	if r := readRaster(t, filepath.Join(root, "tr_bundle", "s0.npy")); !equalValues(r.Data, got.Data) {
		t.Errorf("translate with the bundle differs from the run's checkpoint")
	}
	onnxOut := run(t, "export", "--name", "sci", "--checkpoints_dir", ck, "--format", "onnx", "--out", filepath.Join(root, "sci.onnx"))
	if !strings.Contains(onnxOut, "N×5×H×W") || !strings.Contains(onnxOut, "--range_B -1:3") {
		t.Errorf("export onnx output:\n%s", onnxOut)
	}

	// serve: a TIFF body in, the .npy of translate out.
	url, stop := startServe(t, "--name", "sci", "--checkpoints_dir", ck)
	tif, _ := os.ReadFile(in)
	resp, err := http.Post(url+"/v1/translate", "image/tiff", bytes.NewReader(tif))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-npy" {
		t.Fatalf("serve: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if r, err := raster.DecodeNPY(body); err != nil || !equalValues(r.Data, got.Data) {
		t.Errorf("serve's answer differs from translate's file: %v", err)
	}
	resp, err = http.Post(url+"/v1/translate?format=tif", "application/octet-stream", bytes.NewReader(tif))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, err := raster.DecodeTIFF(body); err != nil || resp.Header.Get("Content-Type") != "image/tiff" || !equalValues(r.Data, got.Data) {
		t.Errorf("serve format=tif: %s %v", resp.Header.Get("Content-Type"), err)
	}
	resp, err = http.Post(url+"/v1/translate?format=png", "image/tiff", bytes.NewReader(tif))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "ask for format=tif or format=npy") {
		t.Errorf("serve format=png of float outputs: %d %s", resp.StatusCode, body)
	}
	wrong, _ := os.ReadFile(filepath.Join(paired, "testB", "s0.npy"))
	resp, err = http.Post(url+"/v1/translate", "application/x-npy", bytes.NewReader(wrong))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "(2 channels) but --input_nc is 5") {
		t.Errorf("serve, 2-channel body: %d %s", resp.StatusCode, body)
	}
	stop()

	// The same translation in PyTorch, from the bundle: the reference's
	// U-Net in eval mode on the TIFF scaled by the recorded range_A.
	testsupport.NeedPythonLong(t, "torch", "numpy", "tifffile")
	script := `
import sys, json, zipfile, numpy as np, torch, tifffile
sys.path.insert(0, sys.argv[1])
import refnets
b = torch.load(sys.argv[2])
spec = json.loads(b["generator"]); opts = json.loads(b["options"])
net = refnets.build({"net": spec["netG"], "in": spec["input_nc"], "out": spec["output_nc"], "nf": spec["ngf"],
                     "norm": spec["norm"], "dropout": spec["dropout"]})
net.load_state_dict(b["state_dict"], strict=True)
net.eval()
x = tifffile.imread(sys.argv[3]).astype(np.float64)          # (C, H, W)
lo = np.array([float(p.split(":")[0]) for p in opts["range_A"].split(",")])[:, None, None]
hi = np.array([float(p.split(":")[1]) for p in opts["range_A"].split(",")])[:, None, None]
u = np.clip((x - lo) / (hi - lo), 0, 1) * 2 - 1
h, w = u.shape[1:]
H, W = -(-h // 32) * 32, -(-w // 32) * 32
t = torch.from_numpy(u[None].astype(np.float32))
t = torch.nn.functional.pad(t, ((W - w) // 2, W - w - (W - w) // 2, (H - h) // 2, H - h - (H - h) // 2), mode="reflect")
with torch.no_grad():
    y = net(t)[0, :, (H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w].double().numpy()
lo_b, hi_b = [float(v) for v in opts["range_B"].split(":")]
out = lo_b + (y + 1) / 2 * (hi_b - lo_b)
ours = np.load(sys.argv[4]).transpose(2, 0, 1)
print(float(np.abs(out - ours).max()), hi_b - lo_b)
`
	outPy := testsupport.RunPython(t, script, filepath.Join("..", "networks", "testdata"), bundle, in, filepath.Join(root, "tr", "s0.npy"))
	var diff, span float64
	if _, err := fmt.Sscan(string(outPy), &diff, &span); err != nil {
		t.Fatalf("python printed %q", outPy)
	}
	if diff > 1e-5*span {
		t.Errorf("cyclepix's translation is %g from PyTorch's (range %g), over 1e-5 of the range", diff, span)
	}
}

// equalValues compares two rasters' values exactly.
func equalValues(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i]))) {
			return false
		}
	}
	return true
}

// startServe runs `cyclepix serve` with flags (on a free port unless they
// give --addr) and returns its URL and a function that stops it as Ctrl-C
// does, waits for it and returns what it printed.
func startServe(t *testing.T, flags ...string) (string, func() (stdout, stderr string)) {
	t.Helper()
	if _, ok := options.ScanValue(flags, "addr"); !ok {
		flags = append([]string{"--addr", "127.0.0.1:0"}, flags...)
	}
	var stdout, stderr cli.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- cli.Run(append([]string{"serve"}, flags...), &stdout, &stderr) }()
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
		}
		if _, rest, ok := strings.Cut(stdout.String(), "serving on "); ok {
			url, _, _ = strings.Cut(rest, "/ ")
		}
	}
	return url, func() (string, string) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d after SIGINT: %s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop on SIGINT")
		}
		return stdout.String(), stderr.String()
	}
}

// A 4-band (12-bit) → RGB CycleGAN: trained, then G_A translates a band
// TIFF into an RGB PNG exactly as the reference writes 8-bit images, and
// G_B an RGB photo into a 4-channel uint16 TIFF on the declared 0..4095
// range; serve answers both ways.
func TestScienceBandsEndToEnd(t *testing.T) {
	root := t.TempDir()
	_, bands := sciencedata.Write(t, root)
	ck := filepath.Join(root, "ck")
	run(t, "train", "--dataroot", bands, "--name", "bands", "--checkpoints_dir", ck, "--netG", "resnet_1blocks", "--ngf", "4",
		"--ndf", "4", "--input_nc", "4", "--output_nc", "3", "--range_A", "0:4095", "--lambda_identity", "0", "--load_size", "36",
		"--crop_size", "32", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "2", "--display_freq", "100", "--print_freq", "100",
		"--num_threads", "1")
	if _, stderr, code := clitest.Run("train", "--dataroot", bands, "--name", "bands_idt", "--checkpoints_dir", ck, "--input_nc", "4",
		"--output_nc", "3", "--range_A", "0:4095"); code == 0 || !strings.Contains(stderr, "--lambda_identity 0.5 needs --input_nc == --output_nc") {
		t.Errorf("identity loss with 4 → 3 channels: exit %d, %s", code, stderr)
	}
	tif, png := filepath.Join(bands, "trainA", "b0.tif"), filepath.Join(bands, "trainB", "c0.png")
	run(t, "translate", "--name", "bands", "--checkpoints_dir", ck, "--input", tif, "--output", filepath.Join(root, "ab"))
	rgb := readRaster(t, filepath.Join(root, "ab", "b0.png"))
	if rgb.C != 3 || rgb.DType != raster.Uint8 || rgb.W != 36 {
		t.Errorf("G_A wrote %s, want a 3×36×36 uint8 PNG", rgb.Shape())
	}
	run(t, "translate", "--name", "bands", "--checkpoints_dir", ck, "--direction", "BtoA", "--input", png, "--output", filepath.Join(root, "ba"))
	back := readRaster(t, filepath.Join(root, "ba", "c0.tif"))
	if back.C != 4 || back.DType != raster.Uint16 {
		t.Fatalf("G_B wrote %s, want 4 channels of uint16", back.Shape())
	}
	for _, v := range back.Data {
		if v < 0 || v > 4095 || v != float32(math.Round(float64(v))) {
			t.Fatalf("G_B value %v is not an integer in range_A 0:4095", v)
		}
	}
	// export: G_A as ONNX (4 channels in), G_B as a bundle whose
	// translation equals the run's.
	if out := run(t, "export", "--name", "bands", "--checkpoints_dir", ck, "--format", "onnx", "--out", filepath.Join(root, "ga.onnx")); !strings.Contains(out, "N×4×H×W") {
		t.Errorf("export G_A:\n%s", out)
	}
	gb := filepath.Join(root, "gb.bundle.pth")
	run(t, "export", "--name", "bands", "--checkpoints_dir", ck, "--format", "bundle", "--net", "G_B", "--out", gb)
	run(t, "translate", "--bundle", gb, "--input", png, "--output", filepath.Join(root, "ba_bundle"))
	if r := readRaster(t, filepath.Join(root, "ba_bundle", "c0.tif")); !equalValues(r.Data, back.Data) {
		t.Errorf("G_B's bundle translates otherwise than the run")
	}

	// test.py's one-direction model on G_B: RGB photos in (range_B), band
	// TIFFs out on A's scale.
	res := filepath.Join(root, "results")
	run(t, "test", "--model", "test", "--model_suffix", "_B", "--dataroot", filepath.Join(bands, "trainB"), "--name", "bands",
		"--checkpoints_dir", ck, "--results_dir", res, "--preprocess", "none", "--input_nc", "3", "--output_nc", "4", "--num_test", "1")
	if r := readRaster(t, filepath.Join(res, "bands", "test_latest", "images", "c0_fake.tif")); r.C != 4 || r.DType != raster.Uint16 {
		t.Errorf("test --model_suffix _B wrote fake as %s, want 4 channels of uint16", r.Shape())
	}

	url, stop := startServe(t, "--name", "bands", "--checkpoints_dir", ck)
	defer func() { stop() }()
	for _, c := range []struct {
		dir, file, ctype string
	}{{"AtoB", tif, "image/png"}, {"BtoA", png, "image/tiff"}} {
		b, _ := os.ReadFile(c.file)
		resp, err := http.Post(url+"/v1/translate?direction="+c.dir, "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("serve %s: %d %s %.200s", c.dir, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}
