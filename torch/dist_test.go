package torch

import (
	binenc "encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cyclepix/internal/testsupport"
)

// TestDistCollectives runs TestDistHelperProcess as two processes (this test
// binary, re-executed) that form a Gloo group on loopback and check
// AllReduceMean, AllReduceGradsMean, Broadcast and Barrier.
func TestDistCollectives(t *testing.T) {
	if !DistAvailable("gloo") {
		t.Fatal("this build has no Gloo (install libgloo-dev and rebuild)")
	}
	port := testsupport.FreePort(t)
	const world = 2
	outs := make([]string, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range world {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestDistHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "CYCLEPIX_DIST_HELPER=1", "RANK="+strconv.Itoa(r),
				"WORLD_SIZE="+strconv.Itoa(world), "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
				"CYCLEPIX_THREADS=1")
			done := make(chan struct{})
			timer := time.AfterFunc(60*time.Second, func() {
				select {
				case <-done:
				default:
					_ = cmd.Process.Kill()
				}
			})
			defer timer.Stop()
			out, err := cmd.CombinedOutput()
			close(done)
			outs[r], errs[r] = string(out), err
		}()
	}
	wg.Wait()
	for r := range world {
		if errs[r] != nil || !strings.Contains(outs[r], "collectives ok") {
			t.Errorf("rank %d: %v\n%s", r, errs[r], outs[r])
		}
	}
}

// TestDistHelperProcess is one rank of TestDistCollectives; it does nothing
// unless started by it.
func TestDistHelperProcess(t *testing.T) {
	if os.Getenv("CYCLEPIX_DIST_HELPER") != "1" {
		t.Skip("helper process of TestDistCollectives")
	}
	rank, _ := strconv.Atoi(os.Getenv("RANK"))
	world, _ := strconv.Atoi(os.Getenv("WORLD_SIZE"))
	port, _ := strconv.Atoi(os.Getenv("MASTER_PORT"))
	g, err := NewProcessGroup(DistOptions{Backend: "gloo", Rank: rank, WorldSize: world,
		MasterAddr: os.Getenv("MASTER_ADDR"), MasterPort: port, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	defer NewScope().Close()
	r := float64(rank)

	// Two dtypes in one call: each travels as its own flat buffer.
	a := Full(r+1, 2, 3)
	b, err := FromBytes(f64bytes(10*r, 1), Float64, []int64{2}, CPU)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AllReduceMean([]*Tensor{a, b}); err != nil {
		t.Fatal(err)
	}
	near(t, "allreduce float32", a.Float32s(), []float32{1.5, 1.5, 1.5, 1.5, 1.5, 1.5}, 0)
	near(t, "allreduce float64", b.ToDevice(CPU, Float32).Float32s(), []float32{5, 1}, 0)

	// Gradients: p has one on both ranks (2 and 4: mean 3), q only on
	// rank 0 (3: mean 1.5), u on none (stays undefined).
	p := Ones(3).SetRequiresGrad(true).Persist()
	q := Ones(2).SetRequiresGrad(true).Persist()
	u := Ones(1).SetRequiresGrad(true).Persist()
	loss := p.MulScalar(2 * (r + 1)).Sum()
	if rank == 0 {
		loss = loss.Add(q.MulScalar(3).Sum())
	}
	loss.Backward()
	if err := g.AllReduceGradsMean([]*Tensor{p, q, u}); err != nil {
		t.Fatal(err)
	}
	near(t, "grad p", p.Grad().Float32s(), []float32{3, 3, 3}, 0)
	if gq := q.Grad(); gq == nil {
		t.Fatal("grad q undefined after the all-reduce")
	} else {
		near(t, "grad q", gq.Float32s(), []float32{1.5, 1.5}, 0)
	}
	if u.Grad() != nil {
		t.Fatal("grad u defined after the all-reduce; no rank had one")
	}

	// Broadcast into a leaf that requires grad, and an int64 buffer.
	w := Full(r+7, 4).SetRequiresGrad(true).Persist()
	n := FromInt64([]int64{int64(rank), 5}, 2)
	if err := g.Broadcast([]*Tensor{w, n}, 1); err != nil {
		t.Fatal(err)
	}
	near(t, "broadcast", w.Float32s(), []float32{8, 8, 8, 8}, 0)
	if got := n.Int64s(); got[0] != 1 || got[1] != 5 {
		t.Fatalf("broadcast int64: %v, want [1 5]", got)
	}
	if err := g.Broadcast([]*Tensor{w}, 2); err == nil {
		t.Fatal("broadcast from rank 2 of 2 did not fail")
	}
	if err := g.Barrier(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("collectives ok")
}

func f64bytes(vs ...float64) []byte {
	out := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		out = binenc.LittleEndian.AppendUint64(out, math.Float64bits(v))
	}
	return out
}
