package networks

import (
	"fmt"
	"math"

	"cyclepix/nn"
	"cyclepix/torch"
)

// Init is init_weights: conv and linear weights by initType scaled by gain,
// their biases 0; batch-norm weights N(1, gain), biases 0. Modules are
// visited children first, like nn.Module.apply.
func Init(net nn.Module, initType string, gain float64) error {
	switch initType {
	case "normal", "xavier", "kaiming", "orthogonal":
	default:
		return fmt.Errorf("--init_type %q: want normal, xavier, kaiming or orthogonal", initType)
	}
	return torch.Try(func() {
		nn.Walk(net, func(_ string, m nn.Module) {
			if bn, ok := m.(*nn.BatchNorm); ok {
				bn.Weight.Normal_(1, gain)
				bn.Bias.Zero_()
				return
			}
			w, b, ok := nn.WeightBias(m)
			if !ok {
				return
			}
			initWeight(w, initType, gain)
			if b != nil {
				b.Zero_()
			}
		})
	})
}

// fans follows torch.nn.init._calculate_fan_in_and_fan_out: dim 1 is the
// input, dim 0 the output, times the receptive field.
func fans(w *torch.Tensor) (in, out float64) {
	s := w.Shape()
	rf := int64(1)
	for _, d := range s[2:] {
		rf *= d
	}
	return float64(s[1] * rf), float64(s[0] * rf)
}

func initWeight(w *torch.Tensor, initType string, gain float64) {
	switch initType {
	case "normal":
		w.Normal_(0, gain)
	case "xavier":
		in, out := fans(w)
		w.Normal_(0, gain*math.Sqrt(2/(in+out)))
	case "kaiming":
		in, _ := fans(w)
		w.Normal_(0, math.Sqrt(2)/math.Sqrt(in))
	case "orthogonal":
		orthogonal(w, gain)
	}
}

// orthogonal is torch.nn.init.orthogonal_: QR of a normal matrix, signs
// fixed by R's diagonal.
func orthogonal(w *torch.Tensor, gain float64) {
	defer torch.NewScope().Close()
	rows := w.Size(0)
	cols := w.Numel() / rows
	flat := torch.Randn(rows, cols)
	if rows < cols {
		flat = flat.Transpose(0, 1)
	}
	q, r := torch.QR(flat)
	q = q.Mul(r.Diag().Sign())
	if rows < cols {
		q = q.Transpose(0, 1)
	}
	w.Copy_(q.Reshape(w.Shape()...).MulScalar(gain))
}
