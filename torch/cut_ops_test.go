package torch

import (
	"strings"
	"testing"
)

// The ops PatchNCE needs: batched products, masking, grouped
// (depthwise) convolutions and int64 index gathers.
func TestBmmMaskedFillGroupedConv(t *testing.T) {
	defer NewScope().Close()
	a := FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2)
	b := FromFloat32([]float32{1, 0, 0, 1, 2, 0, 0, 2}, 2, 2, 2)
	eye := FromInt64([]int64{1, 0, 0, 1}, 1, 2, 2).To(Bool)
	// Depthwise: channel c is convolved with its own 1×1 filter c+1.
	x := FromFloat32([]float32{1, 2, 3, 4, 1, 2, 3, 4}, 1, 2, 2, 2)
	w := FromFloat32([]float32{1, 2}, 2, 1, 1, 1)
	cases := []struct {
		name string
		got  *Tensor
		want []float32
	}{
		{"bmm", Bmm(a, b), []float32{1, 2, 3, 4, 10, 12, 14, 16}},
		{"masked_fill", a.MaskedFill(eye, -10), []float32{-10, 2, 3, -10, -10, 6, 7, -10}},
		{"depthwise conv", Conv2d(x, w, nil, 1, 0, 1, 2), []float32{1, 2, 3, 4, 2, 4, 6, 8}},
		{"depthwise transposed conv", ConvTranspose2d(x, w, nil, 1, 0, 0, 1, 2), []float32{1, 2, 3, 4, 2, 4, 6, 8}},
		{"index_select int64", a.Reshape(4, 2).IndexSelect(0, FromInt64([]int64{3, 0}, 2)), []float32{7, 8, 1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { near(t, c.name, c.got.Float32s(), c.want, 0) })
	}

	// masked_fill passes no gradient where it fills.
	p := Ones(2, 2).SetRequiresGrad(true)
	p.MaskedFill(eye.Reshape(2, 2), 3).Sum().Backward()
	near(t, "masked_fill grad", p.Grad().Float32s(), []float32{0, 1, 1, 0}, 0)
}

func TestBmmErrorsAreGoErrors(t *testing.T) {
	defer NewScope().Close()
	for name, fn := range map[string]func(){
		"bmm shapes":       func() { Bmm(Zeros(2, 2, 3), Zeros(2, 2, 3)) },
		"masked_fill mask": func() { Zeros(2, 2).MaskedFill(Zeros(3).To(Bool), 1) },
	} {
		err := Try(fn)
		if _, ok := AsError(err); !ok || strings.Contains(err.Error(), "frame #") {
			t.Errorf("%s: error %v, want a *Error without backtrace", name, err)
		}
	}
}
