package main

import (
	"os"
	"testing"
)

// TestServeSuite runs the serve suite on a small image against this test
// binary acting as cyclepix (TestMain), once for each generator that
// `cyclepix serve --model test` builds: the server comes up on the
// checkpoint the suite writes and answers every request with an image.
func TestServeSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CYCLEPIX_BENCH_AS_CLI", "1")
	if err := serveSuite("resnet_9blocks,unet_256,cut_resnet_9blocks", "test="+self, 256, 2, 2); err != nil {
		t.Fatal(err)
	}
}

func TestPercentiles(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}} {
		if got := pct(v, c.p); got != c.want {
			t.Errorf("pct(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if m := mean(v); m != 5.5 {
		t.Errorf("mean = %v, want 5.5", m)
	}
}
