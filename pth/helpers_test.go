package pth

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

// le encodes a slice of fixed-size numbers little-endian.
func le(v any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func f32Tensor(shape []int64, vals ...float32) *Tensor {
	return &Tensor{DType: Float32, Shape: shape, Data: le(vals)}
}

func i64Tensor(shape []int64, vals ...int64) *Tensor {
	return &Tensor{DType: Int64, Shape: shape, Data: le(vals)}
}

// arange returns n float32 values 0, 1, …, n-1 scaled by s.
func arange(n int, s float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i) * s
	}
	return out
}

// tensorValues decodes the elements of t as float64, the way Python's
// t.double().flatten().tolist() does.
func tensorValues(t *Tensor) []float64 {
	n := int(t.NumElements())
	out := make([]float64, n)
	b := t.Data
	for i := range out {
		switch t.DType {
		case Float32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		case Float64:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		case Float16:
			out[i] = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
		case BFloat16:
			out[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16))
		case Int64:
			out[i] = float64(int64(binary.LittleEndian.Uint64(b[8*i:])))
		case Int32:
			out[i] = float64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case Int16:
			out[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case Int8:
			out[i] = float64(int8(b[i]))
		case Uint8, Bool:
			out[i] = float64(b[i])
		}
	}
	return out
}

func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// canon describes a value as JSON-compatible data in the same form as the
// canon function of pyCanon, so that values on the two sides can be compared
// with reflect.DeepEqual after a JSON round trip.
func canon(v any) any {
	switch x := v.(type) {
	case *Tensor:
		shape := make([]any, len(x.Shape))
		for i, s := range x.Shape {
			shape[i] = s
		}
		return map[string]any{"dtype": x.DType.String(), "shape": shape, "values": tensorValues(x)}
	case Tensor:
		return canon(&x)
	case *Dict:
		items := []any{}
		for _, k := range x.Keys {
			items = append(items, []any{k, canon(x.Values[k])})
		}
		return map[string]any{"type": "OrderedDict", "items": items}
	case map[string]any:
		items := []any{}
		for _, k := range sortedKeys(x) {
			items = append(items, []any{k, canon(x[k])})
		}
		return map[string]any{"type": "dict", "items": items}
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, canon(e))
		}
		return out
	case int:
		return map[string]any{"int": strconv.Itoa(x)}
	case int64:
		return map[string]any{"int": strconv.FormatInt(x, 10)}
	case float64:
		return map[string]any{"float": x}
	}
	return v
}

// pyCanon is the Python counterpart of canon.
const pyCanon = `
import collections, json, sys, torch
def canon(v):
    if isinstance(v, torch.Tensor):
        return {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                "values": v.detach().double().flatten().tolist()}
    if isinstance(v, dict):
        return {"type": type(v).__name__, "items": [[k, canon(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": v}
    raise TypeError(type(v))
`

// jsonNormalize round-trips v through JSON so that Go- and Python-made
// descriptions have the same Go types.
func jsonNormalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
