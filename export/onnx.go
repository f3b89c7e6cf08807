package export

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

// ONNX versions written: opset 13 (the first with today's Pad, Relu, Tanh
// and Concat signatures, widely supported) in IR version 7, the IR of that
// opset's release.
const (
	ONNXOpset     = 13
	onnxIRVersion = 7
)

// ONNX data types.
const (
	onnxFloat = 1
	onnxInt64 = 7
)

// ONNX attribute types.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrInts   = 7
)

// ONNXOptions describe the model written.
type ONNXOptions struct {
	// InputNC is the number of input channels.
	InputNC int
	// DocString describes the model (shown by viewers such as Netron).
	DocString string
	// Metadata become the model's metadata_props.
	Metadata map[string]string
	// ProducerVersion is the cyclepix version recorded in the file.
	ProducerVersion string
}

type attr struct {
	name string
	kind int
	i    int64
	f    float32
	s    string
	ints []int64
}

func ints(name string, v ...int64) attr     { return attr{name: name, kind: attrInts, ints: v} }
func intAttr(name string, v int64) attr     { return attr{name: name, kind: attrInt, i: v} }
func floatAttr(name string, v float64) attr { return attr{name: name, kind: attrFloat, f: float32(v)} }
func strAttr(name, v string) attr           { return attr{name: name, kind: attrString, s: v} }

type node struct {
	name, op string
	in       []string
	out      string
	attrs    []attr
}

type initializer struct {
	name  string
	dims  []int64
	dtype int
	raw   []byte
}

// graph collects nodes and initializers while walking a module tree.
type graph struct {
	nodes []*node
	inits []initializer
	used  map[string]bool
}

// fresh returns base, or base with a suffix if already taken.
func (g *graph) fresh(base string) string {
	name := base
	for i := 1; g.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	g.used[name] = true
	return name
}

func (g *graph) add(op, name string, in []string, attrs ...attr) string {
	out := g.fresh(name)
	g.nodes = append(g.nodes, &node{name: out, op: op, in: in, out: out, attrs: attrs})
	return out
}

// tensor stores t (as float32 on the CPU, or int64) as an initializer.
func (g *graph) tensor(name string, t *torch.Tensor) string {
	name = g.fresh(name)
	c := t.ToDevice(torch.CPU, torch.Float32).Contiguous()
	g.inits = append(g.inits, initializer{name: name, dims: c.Shape(), dtype: onnxFloat, raw: c.Bytes()})
	return name
}

func (g *graph) int64s(name string, v []int64) string {
	name = g.fresh(name)
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		for b := 0; b < 8; b++ {
			raw[8*i+b] = byte(uint64(x) >> (8 * b))
		}
	}
	g.inits = append(g.inits, initializer{name: name, dims: []int64{int64(len(v))}, dtype: onnxInt64, raw: raw})
	return name
}

func (g *graph) floats(name string, v float32, n int64) string {
	t := torch.Full(float64(v), n)
	defer t.Free()
	return g.tensor(name, t)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// convert appends the ONNX nodes computing module m (at state-dict path
// p) of value x with c channels, and returns the output and its channels.
func (g *graph) convert(p string, m nn.Module, x string, c int64) (string, int64, error) {
	switch m := m.(type) {
	case *networks.Wrapped:
		return g.convert(join(p, m.Attr), m.Net, x, c)
	case *nn.Sequential:
		var err error
		for i, l := range m.Layers {
			if x, c, err = g.convert(join(p, strconv.Itoa(i)), l, x, c); err != nil {
				return "", 0, err
			}
		}
		return x, c, nil
	case *networks.CUTGenerator:
		return g.convert(join(p, "model"), m.Model, x, c)
	case *networks.LocalEnhancer:
		return g.localEnhancer(p, m, x, c)
	case *nn.Downsample:
		return g.downsample(p, m, x, c)
	case *nn.Upsample:
		return g.upsample(p, m, x, c)
	case *networks.ResnetBlock:
		y, cy, err := g.convert(join(p, "conv_block"), m.ConvBlock, x, c)
		if err != nil {
			return "", 0, err
		}
		if cy != c {
			return "", 0, fmt.Errorf("%s: residual block maps %d channels to %d", p, c, cy)
		}
		return g.add("Add", join(p, "add"), []string{x, y}), c, nil
	case *networks.UnetBlock:
		mp := join(p, "model")
		if m.Outermost {
			return g.convert(mp, m.Model, x, c)
		}
		// The skip carries the first layer's output (the reference's
		// in-place LeakyReLU rewrites x), as UnetBlock.Forward does.
		h, ch, err := g.convert(join(mp, "0"), m.Model.Layers[0], x, c)
		if err != nil {
			return "", 0, err
		}
		y, cy := h, ch
		for i, l := range m.Model.Layers[1:] {
			if y, cy, err = g.convert(join(mp, strconv.Itoa(i+1)), l, y, cy); err != nil {
				return "", 0, err
			}
		}
		return g.add("Concat", join(p, "cat"), []string{h, y}, intAttr("axis", 1)), ch + cy, nil
	case *nn.Conv2d:
		s := m.Weight.Shape()
		if s[1] != c {
			return "", 0, fmt.Errorf("%s: conv expects %d input channels, gets %d", p, s[1], c)
		}
		in := []string{x, g.tensor(join(p, "weight"), m.Weight)}
		if m.Bias != nil {
			in = append(in, g.tensor(join(p, "bias"), m.Bias))
		}
		return g.add("Conv", p, in, ints("kernel_shape", s[2], s[3]), ints("strides", m.Stride, m.Stride),
			ints("pads", m.Padding, m.Padding, m.Padding, m.Padding), ints("dilations", m.Dilate, m.Dilate),
			intAttr("group", 1)), s[0], nil
	case *nn.ConvTranspose2d:
		s := m.Weight.Shape() // [in, out, k, k], ONNX's layout too
		if s[0] != c {
			return "", 0, fmt.Errorf("%s: transposed conv expects %d input channels, gets %d", p, s[0], c)
		}
		in := []string{x, g.tensor(join(p, "weight"), m.Weight)}
		if m.Bias != nil {
			in = append(in, g.tensor(join(p, "bias"), m.Bias))
		}
		return g.add("ConvTranspose", p, in, ints("kernel_shape", s[2], s[3]), ints("strides", m.Stride, m.Stride),
			ints("pads", m.Padding, m.Padding, m.Padding, m.Padding), ints("output_padding", m.OutputPadding, m.OutputPadding),
			ints("dilations", 1, 1), intAttr("group", 1)), s[1], nil
	case *nn.BatchNorm:
		// Eval mode: running statistics, as the generator runs in test.
		in := []string{x, g.tensor(join(p, "weight"), m.Weight), g.tensor(join(p, "bias"), m.Bias),
			g.tensor(join(p, "running_mean"), m.RunningMean), g.tensor(join(p, "running_var"), m.RunningVar)}
		return g.add("BatchNormalization", p, in, floatAttr("epsilon", m.Eps)), c, nil
	case *nn.InstanceNorm2d:
		// ONNX's InstanceNormalization always takes a scale and shift;
		// the reference's has none (affine=False): ones and zeros.
		in := []string{x, g.floats(join(p, "scale"), 1, c), g.floats(join(p, "shift"), 0, c)}
		return g.add("InstanceNormalization", p, in, floatAttr("epsilon", m.Eps)), c, nil
	case *nn.Dropout:
		return x, c, nil // eval mode
	case *nn.Func:
		return g.function(p, m, x, c)
	}
	return "", 0, fmt.Errorf("%s: cannot export a %T layer to ONNX", p, m)
}

// localEnhancer is pix2pixHD's LocalEnhancer: the input pyramid by
// AveragePool (3×3, stride 2, padding 1, border windows averaging only
// the pixels inside: count_include_pad 0), the global part on the
// coarsest level, then each enhancer on the sum of its downsampled input
// and the result so far.
func (g *graph) localEnhancer(p string, m *networks.LocalEnhancer, x string, c int64) (string, int64, error) {
	n := len(m.Down)
	pyramid := []string{x}
	for i := 0; i < n; i++ {
		pyramid = append(pyramid, g.add("AveragePool", join(p, "downsample"+strconv.Itoa(i)), []string{pyramid[i]},
			ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), intAttr("count_include_pad", 0)))
	}
	out, co, err := g.convert(join(p, "model"), m.Global, pyramid[n], c)
	if err != nil {
		return "", 0, err
	}
	for k := 1; k <= n; k++ {
		name := "model" + strconv.Itoa(k)
		d, cd, err := g.convert(join(p, name+"_1"), m.Down[k-1], pyramid[n-k], c)
		if err != nil {
			return "", 0, err
		}
		if cd != co {
			return "", 0, fmt.Errorf("%s: enhancer %d gives %d channels, the level below %d", p, k, cd, co)
		}
		sum := g.add("Add", join(p, name+"_add"), []string{d, out})
		if out, co, err = g.convert(join(p, name+"_2"), m.Up[k-1], sum, cd); err != nil {
			return "", 0, err
		}
	}
	return out, co, nil
}

// downsample is CUT's anti-aliased Downsample: reflection padding, then
// the blur filter applied to each channel alone (a depthwise Conv) with
// the stride.
func (g *graph) downsample(p string, m *nn.Downsample, x string, c int64) (string, int64, error) {
	s := m.Filt.Shape() // [c, 1, k, k]
	if s[0] != c {
		return "", 0, fmt.Errorf("%s: downsampling filter for %d channels, gets %d", p, s[0], c)
	}
	k := s[3]
	lo, hi := (k-1)/2, k/2
	pads := g.int64s(join(p, "pads"), []int64{0, 0, lo, lo, 0, 0, hi, hi})
	padded := g.add("Pad", join(p, "pad"), []string{x, pads}, strAttr("mode", "reflect"))
	return g.add("Conv", p, []string{padded, g.tensor(join(p, "filt"), m.Filt)}, ints("kernel_shape", s[2], s[3]),
		ints("strides", m.Stride, m.Stride), ints("pads", 0, 0, 0, 0), ints("dilations", 1, 1), intAttr("group", c)), c, nil
}

// upsample is CUT's anti-aliased Upsample: replication padding by 1, the
// fixed filter as a depthwise ConvTranspose, then the crop (one row and
// column off the top and left, and for even filters off the bottom and
// right too).
func (g *graph) upsample(p string, m *nn.Upsample, x string, c int64) (string, int64, error) {
	s := m.Filt.Shape() // [c, 1, k, k]: ConvTranspose's [in, out/groups, k, k]
	if s[0] != c {
		return "", 0, fmt.Errorf("%s: upsampling filter for %d channels, gets %d", p, s[0], c)
	}
	k := s[3]
	pads := g.int64s(join(p, "pads"), []int64{0, 0, 1, 1, 0, 0, 1, 1})
	padded := g.add("Pad", join(p, "pad"), []string{x, pads}, strAttr("mode", "edge"))
	q := 1 + (k-1)/2
	y := g.add("ConvTranspose", join(p, "deconv"), []string{padded, g.tensor(join(p, "filt"), m.Filt)},
		ints("kernel_shape", s[2], s[3]), ints("strides", m.Stride, m.Stride), ints("pads", q, q, q, q),
		ints("dilations", 1, 1), intAttr("group", c))
	end := int64(math.MaxInt64)
	if k%2 == 0 {
		end = -1
	}
	in := []string{y, g.int64s(join(p, "starts"), []int64{1, 1}), g.int64s(join(p, "ends"), []int64{end, end}),
		g.int64s(join(p, "axes"), []int64{2, 3})}
	return g.add("Slice", p, in), c, nil
}

// function converts the parameter-free layers. nn.Func keeps a layer's
// settings (a slope, a padding) inside a closure, so they are measured by
// running the layer on a probe tensor.
func (g *graph) function(p string, f *nn.Func, x string, c int64) (string, int64, error) {
	switch f.Name {
	case "Identity":
		return x, c, nil
	case "ReLU":
		return g.add("Relu", p, []string{x}), c, nil
	case "Tanh":
		return g.add("Tanh", p, []string{x}), c, nil
	case "Sigmoid":
		return g.add("Sigmoid", p, []string{x}), c, nil
	case "LeakyReLU":
		slope, err := probeSlope(f)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", p, err)
		}
		return g.add("LeakyRelu", p, []string{x}, floatAttr("alpha", slope)), c, nil
	case "ReflectionPad2d", "ReplicationPad2d":
		pad, err := probePad(f)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", p, err)
		}
		mode := "reflect"
		if f.Name == "ReplicationPad2d" {
			mode = "edge"
		}
		pads := g.int64s(join(p, "pads"), []int64{0, 0, pad, pad, 0, 0, pad, pad})
		return g.add("Pad", p, []string{x, pads}, strAttr("mode", mode)), c, nil
	}
	return "", 0, fmt.Errorf("%s: cannot export a %s layer to ONNX", p, f.Name)
}

func probeSlope(f *nn.Func) (float64, error) {
	var y []float32
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		y = f.Forward(torch.FromFloat32([]float32{-2, 3}, 2)).Float32s()
	})
	if err != nil || len(y) != 2 || y[1] != 3 {
		return 0, fmt.Errorf("LeakyReLU layer does not behave as one (f(-2), f(3) = %v, %v)", y, err)
	}
	return float64(y[0]) / -2, nil
}

func probePad(f *nn.Func) (int64, error) {
	const n = 32
	var s []int64
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		s = f.Forward(torch.Zeros(1, 1, n, n)).Shape()
	})
	if err != nil || len(s) != 4 || s[2] != s[3] || (s[2]-n)%2 != 0 || s[2] < n {
		return 0, fmt.Errorf("%s layer does not pad symmetrically (output shape %v, %v)", f.Name, s, err)
	}
	return (s[2] - n) / 2, nil
}

// ONNX encodes generator g as an ONNX model with input "input" of shape
// [batch, InputNC, height, width] and output "output", both float32 in
// [-1, 1]; batch, height and width are symbolic. The graph is the eval-mode
// network: batch norm uses running statistics, dropout is left out.
func ONNX(g nn.Module, o ONNXOptions) ([]byte, error) {
	gr := &graph{used: map[string]bool{"input": true}}
	var out string
	var outC int64
	err := torch.TryErr(func() error {
		var err error
		out, outC, err = gr.convert("", g, "input", int64(o.InputNC))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export to ONNX: %w", err)
	}
	if len(gr.nodes) == 0 || gr.nodes[len(gr.nodes)-1].out != out {
		return nil, fmt.Errorf("export to ONNX: the network computes nothing")
	}
	gr.nodes[len(gr.nodes)-1].out = "output"

	graph := &pb{}
	for _, n := range gr.nodes {
		graph.msg(1, n.encode())
	}
	graph.str(2, "cyclepix_generator")
	for _, in := range gr.inits {
		t := &pb{}
		t.ints(1, in.dims)
		t.int(2, int64(in.dtype))
		t.str(8, in.name)
		t.bytes(9, in.raw)
		graph.msg(5, t)
	}
	graph.msg(11, valueInfo("input", int64(o.InputNC), "height", "width"))
	graph.msg(12, valueInfo("output", outC, "out_height", "out_width"))

	model := &pb{}
	model.int(1, onnxIRVersion)
	model.str(2, "cyclepix")
	if o.ProducerVersion != "" {
		model.str(3, o.ProducerVersion)
	}
	if o.DocString != "" {
		model.str(6, o.DocString)
	}
	model.msg(7, graph)
	opset := &pb{}
	opset.str(1, "")
	opset.int(2, ONNXOpset)
	model.msg(8, opset)
	keys := make([]string, 0, len(o.Metadata))
	for k := range o.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := &pb{}
		e.str(1, k)
		e.str(2, o.Metadata[k])
		model.msg(14, e)
	}
	return model.b, nil
}

func (n *node) encode() *pb {
	p := &pb{}
	for _, in := range n.in {
		p.str(1, in)
	}
	p.str(2, n.out)
	p.str(3, n.name)
	p.str(4, n.op)
	for _, a := range n.attrs {
		e := &pb{}
		e.str(1, a.name)
		e.int(20, int64(a.kind))
		switch a.kind {
		case attrFloat:
			e.float(2, a.f)
		case attrInt:
			e.int(3, a.i)
		case attrString:
			e.str(4, a.s)
		case attrInts:
			e.ints(8, a.ints)
		}
		p.msg(5, e)
	}
	return p
}

// valueInfo describes a float32 NCHW tensor with symbolic batch, height
// and width.
func valueInfo(name string, c int64, h, w string) *pb {
	shape := &pb{}
	for _, d := range []any{"batch", c, h, w} {
		dim := &pb{}
		switch d := d.(type) {
		case string:
			dim.str(2, d)
		case int64:
			dim.int(1, d)
		}
		shape.msg(1, dim)
	}
	tensor := &pb{}
	tensor.int(1, onnxFloat)
	tensor.msg(2, shape)
	typ := &pb{}
	typ.msg(1, tensor)
	v := &pb{}
	v.str(1, name)
	v.msg(2, typ)
	return v
}

// SaveONNX writes ONNX(g, o) to path atomically.
func SaveONNX(path string, g nn.Module, o ONNXOptions) error {
	b, err := ONNX(g, o)
	if err != nil {
		return err
	}
	return options.WriteFileAtomic(path, b)
}
