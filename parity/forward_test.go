package parity

import (
	"testing"

	"cyclepix/nn"
	"cyclepix/torch"
)

func init() {
	runners["forward"] = runForward
	runners["backward"] = runBackward
}

// forward: output = net.eval()(input), atol 1e-5.
func runForward(t *testing.T, c *Case) {
	var spec netSpec
	var weights string
	c.Get(t, "network", &spec)
	c.Get(t, "weights_file", &weights)
	net := spec.build(t, c.Path(weights))
	x := readNPY(t, c.Path("input.npy"))
	var y *torch.Tensor
	torch.NoGrad(func() { y = net.Forward(x) })
	expectClose(t, "output", y, readNPY(t, c.Path("output.npy")), 1e-5)
}

// backward: loss = output.abs().mean() in train mode; gradients of the input
// and of every parameter.
func runBackward(t *testing.T, c *Case) {
	var spec netSpec
	var wantLoss float64
	c.Get(t, "network", &spec)
	c.Get(t, "loss", &wantLoss)
	net := spec.build(t, c.Path("latest_net_G.pth"))
	x := readNPY(t, c.Path("input.npy")).SetRequiresGrad(true)
	y := net.Forward(x)
	expectClose(t, "output", y, readNPY(t, c.Path("output.npy")), 1e-5)
	loss := y.Abs().Mean()
	expectScalar(t, "loss", loss.Item(), wantLoss, 1e-5)
	loss.Backward()
	wantGX := readNPY(t, c.Path("grad_input.npy"))
	_, m := diff(wantGX.Float32s(), wantGX.Float32s())
	expectClose(t, "grad_input", x.Grad(), wantGX, 1e-4*m)
	got := map[string]*torch.Tensor{}
	for _, e := range nn.StateDict(net) {
		if e.Param {
			got[e.Name] = e.Tensor.Grad()
		}
	}
	zt, wn := zeroTrueOf(t, c, "grads.pth")
	expectGrads(t, "grad", got, c.Path("grads.pth"), zt, wn)
}
