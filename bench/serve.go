package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"cyclepix/networks"
	"cyclepix/nn"
)

// serveSuite measures what a client of `cyclepix serve` sees: one client
// sending the same size×size PNG again and again, each request waiting for
// the last, to a server running one generator (--model test, random
// weights written as a checkpoint); latency percentiles after warm-up
// requests and the server's peak RSS. Each binary of bins ("label=path",
// comma-separated; "" builds this tree's cmd/cyclepix) is one row per
// generator, so an older build and this one compare side by side.
func serveSuite(nets, bins string, size, requests, threads int) error {
	dir, err := os.MkdirTemp("", "cyclepix-bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binaries, err := serveBinaries(bins, dir)
	if err != nil {
		return err
	}
	body, err := servePNG(size)
	if err != nil {
		return err
	}
	fmt.Printf("serve: one client, %d×%d PNG, %d requests after 3 warm-ups, --max_batch 1, %d threads\n", size, size, requests, threads)
	fmt.Printf("%-16s %-14s %10s %10s %10s %12s\n", "netG", "binary", "p50 ms", "p99 ms", "mean ms", "server RSS")
	for _, netG := range strings.Split(nets, ",") {
		spec := benchSpec(netG)
		if spec.Family != "" {
			fmt.Printf("%-16s skipped: served through --model test, which builds the reference's generators only\n", netG)
			continue
		}
		g, err := spec.Build()
		if err != nil {
			return err
		}
		ckpt := filepath.Join(dir, netG, "bench")
		if err := os.MkdirAll(ckpt, 0o755); err != nil {
			return err
		}
		if err := nn.SaveFile(g, filepath.Join(ckpt, "latest_net_G.pth")); err != nil {
			return err
		}
		for _, b := range binaries {
			lat, rss, err := serveLatencies(b[1], filepath.Join(dir, netG), spec, body, requests, threads)
			if err != nil {
				return fmt.Errorf("%s with %s: %w", netG, b[0], err)
			}
			fmt.Printf("%-16s %-14s %10.1f %10.1f %10.1f %9d MB\n", netG, b[0], pct(lat, 0.50), pct(lat, 0.99), mean(lat), rss/1024)
		}
	}
	return nil
}

// serveBinaries parses -serve_bins, building this tree's cyclepix when it
// is empty.
func serveBinaries(bins, dir string) ([][2]string, error) {
	if bins == "" {
		out := filepath.Join(dir, "cyclepix")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/cyclepix")
		cmd.Dir = filepath.Join(sourceDir(), "..")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building cmd/cyclepix: %w", err)
		}
		return [][2]string{{"this tree", out}}, nil
	}
	var list [][2]string
	for _, item := range strings.Split(bins, ",") {
		label, path, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("-serve_bins %q: want LABEL=PATH[,LABEL=PATH...]", bins)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("-serve_bins: %w", err)
		}
		list = append(list, [2]string{label, path})
	}
	return list, nil
}

// servePNG is a size×size photo-like test image: smooth colour gradients
// with noise, so that PNG decoding costs what a real photograph's would.
func servePNG(size int) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	r := rand.New(rand.NewSource(1))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			n := r.Intn(24)
			img.Set(x, y, color.NRGBA{uint8((x*255/size + n) % 256), uint8((y*255/size + n) % 256), uint8(((x+y)*127/size + n) % 256), 255})
		}
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}

// serveLatencies starts bin's server on the checkpoint folder's generator,
// waits until it answers, sends 3 warm-up requests and then `requests`
// timed ones, and returns their latencies in milliseconds and the server's
// peak RSS in KiB.
func serveLatencies(bin, checkpoints string, spec networks.GenSpec, body []byte, requests, threads int) ([]float64, int64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--model", "test", "--netG", spec.NetG, "--norm", spec.Norm, "--no_dropout", "--checkpoints_dir", checkpoints,
		"--name", "bench", "--device", "cpu", "--addr", addr, "--max_batch", "1")
	cmd.Env = append(os.Environ(), "CYCLEPIX_THREADS="+strconv.Itoa(threads))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("server did not come up: %s", strings.TrimSpace(logs.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var lat []float64
	for i := 0; i < requests+3; i++ {
		start := time.Now()
		resp, err := http.Post(url+"/v1/translate", "image/png", bytes.NewReader(body))
		if err != nil {
			return nil, 0, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(out))
		}
		if i >= 3 {
			lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		}
	}
	return lat, vmKB(strconv.Itoa(cmd.Process.Pid), "VmHWM"), nil
}

// pct is the p-quantile of v (nearest rank).
func pct(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mean(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}
