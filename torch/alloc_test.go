package torch

import (
	"math"
	"syscall"
	"testing"
)

// TestKeepBigBlocks checks the big-block allocator (shim_alloc.cpp): freed
// blocks of 32 MiB and more are kept and reused with correct results, what
// is kept never exceeds the most ever in use at once, small blocks and the
// switched-off allocator keep nothing.
func TestKeepBigBlocks(t *testing.T) {
	defer SetFastOps(AllFastOps)
	const mib = 1 << 20
	// elems gives a float32 tensor of exactly n MiB (a multiple of the
	// allocator's 2 MiB granule, so the bytes kept are exact).
	elems := func(n int64) int64 { return n * mib / 4 }
	sum := func(v float64, n int64) float64 {
		defer NewScope().Close()
		a := Full(v, elems(n))
		b := a.Add(a) // a second block while the first is in use
		return b.Sum().Item()
	}
	cases := []struct {
		name string
		fast FastOps
		// sizes are run one after the other, each freed before the next.
		sizes []int64
		kept  int64
		// reused: the runs after the first page-fault far less than their
		// blocks' size (4 KiB pages), as kept memory is already mapped.
		reused bool
	}{
		{"two blocks in use at once are both kept", AllFastOps, []int64{48}, 96 * mib, false},
		{"a repeated size reuses what was kept", AllFastOps, []int64{48, 48, 48}, 96 * mib, true},
		{"a larger request evicts what no longer fits under the peak", AllFastOps, []int64{48, 80}, 160 * mib, false},
		{"a smaller request within an eighth takes a kept block", AllFastOps, []int64{48, 44}, 96 * mib, true},
		{"small blocks stay with the default allocator", AllFastOps, []int64{8}, 0, false},
		{"switched off", AllFastOps &^ FastKeepBlocks, []int64{48}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			SetFastOps(AllFastOps)
			ReleaseCachedMemory()
			SetFastOps(c.fast)
			var faults int64
			for i, n := range c.sizes {
				if i == 1 {
					faults = minorFaults()
				}
				v := float64(i + 1)
				want := 2 * v * float64(elems(n))
				if got := sum(v, n); math.Abs(got-want) > 1e-5*want || math.IsNaN(got) {
					t.Fatalf("sum over %d MiB: got %v, want %v (a kept block's old contents leaked?)", n, got, want)
				}
			}
			if c.reused {
				touched := int64(0)
				for _, n := range c.sizes[1:] {
					touched += 2 * n * mib / 4096
				}
				if f := minorFaults() - faults; f > touched/4 {
					t.Errorf("%d page faults after the first run, want under %d: kept blocks not reused", f, touched/4)
				}
			}
			if got := ReleaseCachedMemory(); got != c.kept {
				t.Errorf("kept %d MiB, want %d MiB", got/mib, c.kept/mib)
			}
			if got := ReleaseCachedMemory(); got != 0 {
				t.Errorf("a second release gave back %d bytes, want 0", got)
			}
		})
	}
}

func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Minflt
}

// TestBlocksFreedAfterKeepingStops: a big block allocated while keeping
// was on and freed after it was switched off goes back to the system.
func TestBlocksFreedAfterKeepingStops(t *testing.T) {
	defer SetFastOps(AllFastOps)
	SetFastOps(AllFastOps)
	ReleaseCachedMemory()
	s := NewScope()
	Zeros(12 << 20) // 48 MiB
	SetFastOps(AllFastOps &^ FastKeepBlocks)
	s.Close()
	if got := ReleaseCachedMemory(); got != 0 {
		t.Errorf("%d MiB kept after keeping was switched off, want 0", got>>20)
	}
}
