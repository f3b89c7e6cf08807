// Package nn holds layers with named parameters in PyTorch's layout, so that
// a module tree's state dict keys ("model.10.conv_block.5.weight") are the
// ones PyTorch's nn.Module produces for the same architecture.
package nn

import (
	"fmt"
	"sort"
	"strings"

	"cyclepix/torch"
)

// Module is a layer or a network.
type Module interface {
	Forward(x *torch.Tensor) *torch.Tensor
}

// Entry is one parameter or buffer of a module.
type Entry struct {
	Name   string
	Tensor *torch.Tensor
	Param  bool // false for buffers (running stats, counters)
}

// HasTensors is implemented by modules that own parameters or buffers.
type HasTensors interface {
	Tensors() []Entry
}

// Child is a named submodule.
type Child struct {
	Name   string
	Module Module
}

// HasChildren is implemented by containers.
type HasChildren interface {
	Children() []Child
}

// Trainable is implemented by modules that act differently in training
// (batch norm, dropout).
type Trainable interface {
	SetTraining(on bool)
}

// Walk visits every module depth-first (children before their parent, as
// PyTorch's Module.apply does) with its dotted path.
func Walk(m Module, fn func(path string, m Module)) {
	walk("", m, fn)
}

func walk(prefix string, m Module, fn func(string, Module)) {
	if c, ok := m.(HasChildren); ok {
		for _, ch := range c.Children() {
			walk(join(prefix, ch.Name), ch.Module, fn)
		}
	}
	fn(prefix, m)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// StateDict lists every parameter and buffer with its full name, in
// PyTorch's order (a module's own tensors before its children's).
func StateDict(m Module) []Entry {
	var out []Entry
	stateDict("", m, &out)
	return out
}

func stateDict(prefix string, m Module, out *[]Entry) {
	if h, ok := m.(HasTensors); ok {
		for _, e := range h.Tensors() {
			e.Name = join(prefix, e.Name)
			*out = append(*out, e)
		}
	}
	if c, ok := m.(HasChildren); ok {
		for _, ch := range c.Children() {
			stateDict(join(prefix, ch.Name), ch.Module, out)
		}
	}
}

// Parameters returns the trainable tensors in state-dict order.
func Parameters(m Module) []*torch.Tensor {
	var ps []*torch.Tensor
	for _, e := range StateDict(m) {
		if e.Param {
			ps = append(ps, e.Tensor)
		}
	}
	return ps
}

// NumParams counts the elements of all parameters.
func NumParams(m Module) int64 {
	var n int64
	for _, p := range Parameters(m) {
		n += p.Numel()
	}
	return n
}

// SetTraining switches every module of the tree to training or eval mode.
func SetTraining(m Module, on bool) {
	Walk(m, func(_ string, m Module) {
		if t, ok := m.(Trainable); ok {
			t.SetTraining(on)
		}
	})
}

// SetRequiresGrad turns gradient tracking of every parameter on or off (the
// reference's set_requires_grad, used to freeze D during the G step).
func SetRequiresGrad(m Module, on bool) {
	for _, p := range Parameters(m) {
		p.SetRequiresGrad(on)
	}
}

// LoadStateDict copies tensors into the module's parameters and buffers.
// Every module entry must be present with the same shape; extra keys are an
// error too, except legacy InstanceNorm running stats (the reference drops
// them the same way). Errors name the key and both shapes.
func LoadStateDict(m Module, sd map[string]*torch.Tensor) error {
	entries := StateDict(m)
	want := make(map[string]bool, len(entries))
	for _, e := range entries {
		want[e.Name] = true
		src, ok := sd[e.Name]
		if !ok {
			return fmt.Errorf("checkpoint has no tensor %q (the chosen architecture needs it; check --netG/--netD, --norm, --ngf/--ndf and --no_dropout)", e.Name)
		}
		if !SameShape(src.Shape(), e.Tensor.Shape()) {
			return fmt.Errorf("tensor %q has shape %v in the checkpoint but %v in the chosen architecture (check --netG/--netD, --norm, --ngf/--ndf, --input_nc/--output_nc)", e.Name, src.Shape(), e.Tensor.Shape())
		}
	}
	var extra []string
	for k := range sd {
		if !want[k] && !isLegacyInstanceNormKey(k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("checkpoint has tensor %q that the chosen architecture does not have (%d unexpected in all; check --netG/--netD, --norm and --no_dropout)", extra[0], len(extra))
	}
	return torch.Try(func() {
		for _, e := range entries {
			e.Tensor.Copy_(sd[e.Name])
		}
	})
}

func isLegacyInstanceNormKey(k string) bool {
	return strings.HasSuffix(k, ".running_mean") || strings.HasSuffix(k, ".running_var") || strings.HasSuffix(k, ".num_batches_tracked")
}

// SameShape reports whether two tensor shapes are equal.
func SameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SetDType converts every floating-point parameter and buffer of m to dt
// in place (integer counters stay as they are).
func SetDType(m Module, dt torch.DType) {
	for _, e := range StateDict(m) {
		if k := e.Tensor.DType(); k == torch.Float32 || k == torch.Float64 || k == torch.Float16 || k == torch.BFloat16 {
			e.Tensor.SetDType_(dt)
		}
	}
}

// ToDevice moves every parameter and buffer of m to dev.
func ToDevice(m Module, dev torch.Device) error {
	return torch.Try(func() {
		for _, e := range StateDict(m) {
			e.Tensor.MoveTo_(dev)
		}
	})
}
