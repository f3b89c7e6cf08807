package parity

import (
	"testing"

	"cyclepix/torch"
)

func init() {
	runners["forward"] = runForward
	runners["backward"] = runBackward
}

// forward: output = net(input) in the case's mode (eval), atol 1e-5.
func runForward(t *testing.T, c *Case) {
	n := buildNetwork(t, c)
	x := readNPY(t, c.Need(t, "input.npy"))
	var y *torch.Tensor
	torch.NoGrad(func() { y = n.Net.Forward(x) })
	newCompare(t).close("output", y, readNPY(t, c.Need(t, "output.npy")), 1e-5)
}

// backwardLoss is the loss the backward cases differentiate.
const backwardLoss = "loss = output.abs().mean()"

// backward: loss = output.abs().mean() in the case's mode (train);
// gradients of the input and of every parameter.
func runBackward(t *testing.T, c *Case) {
	var def string
	var wantLoss float64
	c.Get(t, "loss_definition", &def)
	if def != backwardLoss {
		t.Fatalf("case.json loss_definition %q: the harness computes %q only", def, backwardLoss)
	}
	c.Get(t, "loss", &wantLoss)
	n := buildNetwork(t, c)
	cmp := newCompare(t)
	x := readNPY(t, c.Need(t, "input.npy")).SetRequiresGrad(true)
	y := n.Net.Forward(x)
	cmp.close("output", y, readNPY(t, c.Need(t, "output.npy")), 1e-5)
	loss := y.Abs().Mean()
	cmp.scalar("loss", loss.Item(), wantLoss, 1e-5)
	loss.Backward()
	wantGX := readNPY(t, c.Need(t, "grad_input.npy"))
	cmp.close("grad_input", x.Grad(), wantGX, 1e-4*finiteMax(wantGX.Float32s()))
	zt, wn := zeroTrueOf(t, c, "grads.pth")
	cmp.grads("grad", n.Net, c.Need(t, "grads.pth"), append(zt, wn...), gradRule{})
}
