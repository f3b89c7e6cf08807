package torch

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func near(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestElementwise(t *testing.T) {
	defer NewScope().Close()
	x := FromFloat32([]float32{-2, -0.5, 0, 1.5}, 4)
	y := FromFloat32([]float32{1, 2, 3, 4}, 4)
	cases := []struct {
		name string
		got  *Tensor
		want []float32
	}{
		{"abs", x.Abs(), []float32{2, 0.5, 0, 1.5}},
		{"relu", x.Relu(), []float32{0, 0, 0, 1.5}},
		{"leaky", x.LeakyRelu(0.2), []float32{-0.4, -0.1, 0, 1.5}},
		{"add", x.Add(y), []float32{-1, 1.5, 3, 5.5}},
		{"sub", x.Sub(y), []float32{-3, -2.5, -3, -2.5}},
		{"mul", x.Mul(y), []float32{-2, -1, 0, 6}},
		{"div", y.Div(y), []float32{1, 1, 1, 1}},
		{"addS", x.AddScalar(1), []float32{-1, 0.5, 1, 2.5}},
		{"mulS", x.MulScalar(2), []float32{-4, -1, 0, 3}},
		{"rsub", x.RSubScalar(1), []float32{3, 1.5, 1, -0.5}},
		{"pow", y.PowScalar(2), []float32{1, 4, 9, 16}},
		{"sqrt", y.Sqrt(), []float32{1, float32(math.Sqrt2), float32(math.Sqrt(3)), 2}},
		{"tanh", x.Tanh(), []float32{float32(math.Tanh(-2)), float32(math.Tanh(-0.5)), 0, float32(math.Tanh(1.5))}},
		{"sigmoid", FromFloat32([]float32{0}, 1).Sigmoid(), []float32{0.5}},
		{"sum", x.Sum(), []float32{-1}},
		{"mean", y.Mean(), []float32{2.5}},
		{"norm", FromFloat32([]float32{3, 4}, 2).Norm(2, false), []float32{5}},
		{"flip", y.Flip(0), []float32{4, 3, 2, 1}},
		{"slice", y.Slice(0, 1, 4, 2), []float32{2, 4}},
		{"cat", Cat(0, x.Narrow(0, 0, 1), y.Narrow(0, 3, 1)), []float32{-2, 4}},
		{"mse", MSELoss(x, y, ReduceMean), []float32{(9 + 6.25 + 9 + 6.25) / 4}},
		{"l1", L1Loss(x, y, ReduceMean), []float32{(3 + 2.5 + 3 + 2.5) / 4}},
		{"bcelogits", BCEWithLogits(FromFloat32([]float32{0}, 1), FromFloat32([]float32{1}, 1), ReduceMean), []float32{float32(math.Log(2))}},
		{"permute", FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3).Permute(1, 0).Contiguous(), []float32{1, 4, 2, 5, 3, 6}},
		{"onehot", FromInt64([]int64{2, 0}, 2).OneHot(3).To(Float32), []float32{0, 0, 1, 1, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { near(t, c.name, c.got.Float32s(), c.want, 1e-6) })
	}
}

func TestShapesAndDTypes(t *testing.T) {
	defer NewScope().Close()
	x := Zeros(2, 3, 4, 5)
	if got := x.Shape(); len(got) != 4 || got[3] != 5 || x.Numel() != 120 {
		t.Fatalf("shape %v numel %d", got, x.Numel())
	}
	for _, d := range []DType{Float32, BFloat16, Int64, Uint8, Float64} {
		y := x.To(d)
		if y.DType() != d || len(y.Bytes()) != 120*d.Size() {
			t.Fatalf("%v: got %v, %d bytes", d, y.DType(), len(y.Bytes()))
		}
	}
	s := Scalar(3)
	if s.Dim() != 0 || s.Item() != 3 {
		t.Fatalf("scalar: dim %d item %v", s.Dim(), s.Item())
	}
	if _, err := FromBytes(make([]byte, 7), Float32, []int64{2}, CPU); err == nil {
		t.Fatal("FromBytes accepted 7 bytes for 2 float32")
	}
}

// Bad shapes must come back as Go errors carrying libtorch's message, not
// abort the process.
func TestErrorsAreGoErrors(t *testing.T) {
	defer NewScope().Close()
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"add shapes", func() { Zeros(2, 3).Add(Zeros(4, 5)) }, "size of tensor a (3) must match"},
		{"conv channels", func() { Conv2d(Zeros(1, 3, 8, 8), Zeros(4, 5, 3, 3), nil, 1, 1, 1, 1) }, "channels"},
		{"reshape", func() { Zeros(6).Reshape(4) }, "invalid for input of size 6"},
		{"reflect pad too big", func() { Pad2d(Zeros(1, 1, 2, 2), PadReflect, 3, 3, 3, 3, 0) }, "Padding size should be less than"},
		{"item of many", func() { Zeros(3).Item() }, "a Tensor with 3 elements"},
		{"backward non-scalar", func() { Zeros(3).SetRequiresGrad(true).MulScalar(2).Backward() }, "scalar outputs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Try(c.fn)
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := AsError(err); !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "frame #") {
				t.Fatalf("error carries a C++ backtrace: %q", err)
			}
		})
	}
}

func TestAutogradSecondOrder(t *testing.T) {
	defer NewScope().Close()
	// f(x) = sum(x^3); df/dx = 3x^2; d/dx sum(df/dx) = 6x.
	x := FromFloat32([]float32{1, 2, -1}, 3).SetRequiresGrad(true)
	y := x.PowScalar(3).Sum()
	g := Grad([]*Tensor{y}, []*Tensor{x}, GradOpts{CreateGraph: true})[0]
	near(t, "grad", g.Float32s(), []float32{3, 12, 3}, 1e-5)
	g.Sum().Backward()
	near(t, "grad2", x.Grad().Float32s(), []float32{6, 12, -6}, 1e-5)
	x.ZeroGrad()
	if x.Grad() != nil {
		t.Fatal("grad not cleared")
	}
	NoGrad(func() {
		if x.MulScalar(2).RequiresGrad() {
			t.Fatal("NoGrad recorded a graph")
		}
	})
	if !x.MulScalar(2).RequiresGrad() {
		t.Fatal("grad mode not restored")
	}
}

// One Adam step against the closed form of torch.optim.Adam's first steps.
func TestAdam(t *testing.T) {
	defer NewScope().Close()
	p := FromFloat32([]float32{1, -2}, 2).SetRequiresGrad(true).Persist()
	opt := NewAdam([]*Tensor{p}, 0.1, 0.5, 0.999)
	w := []float64{1, -2}
	m := []float64{0, 0}
	v := []float64{0, 0}
	for step := 1; step <= 3; step++ {
		p.Square().Sum().Backward() // g = 2p
		opt.Step()
		opt.ZeroGrad()
		for i := range w {
			g := 2 * w[i]
			m[i] = 0.5*m[i] + 0.5*g
			v[i] = 0.999*v[i] + 0.001*g*g
			bc1 := 1 - math.Pow(0.5, float64(step))
			bc2 := 1 - math.Pow(0.999, float64(step))
			w[i] -= 0.1 / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + 1e-8)
		}
	}
	near(t, "adam", p.Float32s(), []float32{float32(w[0]), float32(w[1])}, 1e-6)
	if opt.StepCount != 3 {
		t.Fatalf("step count %d", opt.StepCount)
	}
}

func TestScopeFrees(t *testing.T) {
	before := LiveTensors()
	var kept *Tensor
	func() {
		s := NewScope()
		defer s.Close()
		a := Ones(10)
		for i := 0; i < 50; i++ {
			a = a.AddScalar(1)
		}
		kept = s.Keep(a)
	}()
	if got := LiveTensors() - before; got != 1 {
		t.Fatalf("%d tensors alive after scope, want 1 (the kept one)", got)
	}
	if got := kept.Float32s(); got[0] != 51 {
		t.Fatalf("kept tensor holds %v, want 51", got[0])
	}
	kept.Free()
	if got := LiveTensors() - before; got != 0 {
		t.Fatalf("%d tensors alive after Free", got)
	}
}

func rssKB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// 600 training steps of a small conv net: RSS must stay flat after warm-up.
func TestTrainingMemoryFlat(t *testing.T) {
	w1 := Randn(8, 3, 3, 3).MulScalar(0.1).SetRequiresGrad(true).Persist()
	b1 := Zeros(8).SetRequiresGrad(true).Persist()
	w2 := Randn(3, 8, 3, 3).MulScalar(0.1).SetRequiresGrad(true).Persist()
	opt := NewAdam([]*Tensor{w1, b1, w2}, 1e-3, 0.5, 0.999)
	x := Randn(2, 3, 32, 32).Persist()
	step := func() {
		defer NewScope().Close()
		h := InstanceNorm(Conv2d(Pad2d(x, PadReflect, 1, 1, 1, 1, 0), w1, b1, 1, 0, 1, 1), nil, nil, nil, nil, true, 0.1, 1e-5).Relu()
		y := ConvTranspose2d(h, w2.Transpose(0, 1), nil, 1, 1, 0, 1, 1).Tanh()
		l := L1Loss(y, x, ReduceMean)
		opt.ZeroGrad()
		l.Backward()
		opt.Step()
	}
	for i := 0; i < 100; i++ {
		step()
	}
	start := rssKB(t)
	live := LiveTensors()
	for i := 0; i < 500; i++ {
		step()
	}
	grow := rssKB(t) - start
	t.Logf("RSS growth over 500 steps: %d kB; live tensors %d -> %d", grow, live, LiveTensors())
	if grow > 4096 {
		t.Fatalf("RSS grew %d kB over 500 steps", grow)
	}
	if LiveTensors() != live {
		t.Fatalf("live tensors %d -> %d", live, LiveTensors())
	}
}

func TestRNGStateRestores(t *testing.T) {
	defer NewScope().Close()
	ManualSeed(7)
	st := RNGState()
	a := Randn(5).Float32s()
	SetRNGState(st)
	b := Randn(5).Float32s()
	near(t, "rng", a, b, 0)
}
