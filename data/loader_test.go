package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// unalignedRoot writes nA + nB small images.
func unalignedRoot(t testing.TB, nA, nB, size int) string {
	root := t.TempDir()
	for i := 0; i < nA; i++ {
		writePNG(t, filepath.Join(root, "trainA", fmt.Sprintf("%03d.png", i)), size, size, func(x, y int) color.RGBA { return pattern(x+i, y) })
	}
	for i := 0; i < nB; i++ {
		writePNG(t, filepath.Join(root, "trainB", fmt.Sprintf("%03d.png", i)), size, size, func(x, y int) color.RGBA { return pattern(x, y+i) })
	}
	return root
}

func readEpoch(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	e := l.Epoch(context.Background(), epoch)
	defer e.Close()
	var out []*Batch
	for {
		b, err := e.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// checkNoLeak fails if goroutines started after base are still running.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left (had %d):\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderBatches(t *testing.T) {
	root := unalignedRoot(t, 10, 3, 16)
	o := testOptions(root)
	ds, err := New("unaligned", o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, NumThreads: 3, Shuffle: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	bs := readEpoch(t, l, 0)
	if len(bs) != 3 || l.NumBatches() != 3 {
		t.Fatalf("%d batches, NumBatches %d, want 3", len(bs), l.NumBatches())
	}
	seen := map[int]bool{}
	for k, b := range bs {
		want := []int{4, 4, 2}[k]
		if b.Size != want || fmt.Sprint(b.Arrays["A"].Shape) != fmt.Sprintf("[%d 3 12 12]", want) || len(b.Paths["B_paths"]) != want {
			t.Errorf("batch %d: size %d shape %v paths %d", k, b.Size, b.Arrays["A"].Shape, len(b.Paths["B_paths"]))
		}
		if len(b.Arrays["A"].Data) != want*3*12*12 {
			t.Errorf("batch %d: %d values", k, len(b.Arrays["A"].Data))
		}
		for i, idx := range b.Indices {
			seen[idx] = true
			if want := filepath.Join(root, "trainA", fmt.Sprintf("%03d.png", idx)); b.Paths["A_paths"][i] != want {
				t.Errorf("batch %d sample %d: A path %s, want %s", k, i, b.Paths["A_paths"][i], want)
			}
		}
	}
	if len(seen) != 10 {
		t.Errorf("epoch covered %d of 10 samples", len(seen))
	}
}

func TestLoaderDeterminism(t *testing.T) {
	root := unalignedRoot(t, 9, 4, 16)
	ds, err := New("unaligned", testOptions(root))
	if err != nil {
		t.Fatal(err)
	}
	load := func(threads int, seed uint64, epoch int, shuffle bool) []*Batch {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 2, NumThreads: threads, Prefetch: threads, Shuffle: shuffle, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return readEpoch(t, l, epoch)
	}
	ref := load(1, 42, 0, true)
	for _, threads := range []int{2, 4, 8} {
		if got := load(threads, 42, 0, true); !reflect.DeepEqual(got, ref) {
			t.Errorf("%d threads gave other batches than 1 thread", threads)
		}
	}
	order := func(bs []*Batch) (idx []int) {
		for _, b := range bs {
			idx = append(idx, b.Indices...)
		}
		return idx
	}
	if reflect.DeepEqual(order(load(1, 43, 0, true)), order(ref)) {
		t.Error("another seed gave the same order")
	}
	if reflect.DeepEqual(order(load(1, 42, 1, true)), order(ref)) {
		t.Error("the next epoch repeated the order")
	}
	if got := order(load(3, 42, 0, false)); !reflect.DeepEqual(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("serial order %v", got)
	}
}

func TestLoaderCloseAndCancel(t *testing.T) {
	root := unalignedRoot(t, 20, 2, 16)
	ds, err := New("unaligned", testOptions(root))
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 1, NumThreads: 4, Shuffle: true})

	// Stop after one batch, with workers busy and the prefetch full.
	e := l.Epoch(context.Background(), 0)
	if _, err := e.Next(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	e.Close()
	e.Close()
	if _, err := e.Next(); err == nil {
		t.Error("Next after Close gave a batch")
	}
	checkNoLeak(t, base)

	// Cancel the context: Next reports it.
	ctx, cancel := context.WithCancel(context.Background())
	e = l.Epoch(ctx, 0)
	e.Next()
	cancel()
	var got error
	for i := 0; i < 30 && got == nil; i++ {
		_, got = e.Next()
	}
	if !errors.Is(got, context.Canceled) {
		t.Errorf("after cancel: %v", got)
	}
	e.Close()
	checkNoLeak(t, base)

	// Never started reading.
	l.Epoch(context.Background(), 3).Close()
	checkNoLeak(t, base)
}

func TestLoaderErrorStops(t *testing.T) {
	root := unalignedRoot(t, 6, 2, 16)
	writeFile(t, filepath.Join(root, "trainA", "003.png"), []byte("broken"))
	ds, err := New("unaligned", testOptions(root))
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 2, NumThreads: 2})
	e := l.Epoch(context.Background(), 0)
	var first error
	for i := 0; i < 5 && first == nil; i++ {
		_, first = e.Next()
	}
	if first == nil || first == io.EOF || !strings.Contains(first.Error(), "003.png") {
		t.Fatalf("error %v does not name the broken file", first)
	}
	if _, again := e.Next(); again != first {
		t.Errorf("second Next: %v", again)
	}
	e.Close()
	checkNoLeak(t, base)
}

// BenchmarkLoader reports images/s (A and B count as one sample) for 1
// and 2 threads at horse2zebra's shape: 256×256 photographs-like images
// (smooth colour fields with noise), loaded at 286 and cropped to 256,
// stored as PNG and as JPEG (quality 90, 4:2:0, what most datasets ship).
func BenchmarkLoader(b *testing.B) {
	for _, format := range []string{"png", "jpeg"} {
		root := photoRoot(b, 16, format)
		o := testOptions(root)
		o.LoadSize, o.CropSize = 286, 256
		ds, err := New("unaligned", o)
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", format, threads), func(b *testing.B) {
				l, _ := NewLoader(ds, LoaderOptions{BatchSize: 4, NumThreads: threads, Shuffle: true})
				n := 0
				start := time.Now()
				for i := 0; i < b.N; i++ {
					e := l.Epoch(context.Background(), i)
					for {
						bt, err := e.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						n += bt.Size
					}
					e.Close()
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "images/s")
			})
		}
	}
}

// photoRoot writes n 256×256 images per side of an unaligned dataset in
// the given format ("png" or "jpeg"): gradients plus noise, so that the
// codecs work as hard as on photographs.
func photoRoot(t testing.TB, n int, format string) string {
	root := t.TempDir()
	r := rng(7)
	for _, side := range []string{"trainA", "trainB"} {
		for i := 0; i < n; i++ {
			m := image.NewRGBA(image.Rect(0, 0, 256, 256))
			for y := 0; y < 256; y++ {
				for x := 0; x < 256; x++ {
					noise := r.IntN(24)
					m.SetRGBA(x, y, color.RGBA{uint8(x + noise + i), uint8(y + noise), uint8((x+y)/2 + noise), 255})
				}
			}
			path := filepath.Join(root, side, fmt.Sprintf("%03d.%s", i, map[string]string{"png": "png", "jpeg": "jpg"}[format]))
			if format == "png" {
				writeStd(t, path, m)
				continue
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, buf.Bytes())
		}
	}
	return root
}
