package pth

import "fmt"

// DType is the element type of a Tensor. Each DType corresponds to one
// PyTorch storage class (torch.FloatStorage, torch.LongStorage, …), which is
// how torch.save records the element type.
//
// The zero value is Float32, PyTorch's default dtype.
type DType int

// The supported element types.
const (
	Float32  DType = iota // torch.float32, torch.FloatStorage
	Float64               // torch.float64, torch.DoubleStorage
	Float16               // torch.float16, torch.HalfStorage
	BFloat16              // torch.bfloat16, torch.BFloat16Storage
	Int64                 // torch.int64, torch.LongStorage
	Int32                 // torch.int32, torch.IntStorage
	Int16                 // torch.int16, torch.ShortStorage
	Int8                  // torch.int8, torch.CharStorage
	Uint8                 // torch.uint8, torch.ByteStorage
	Bool                  // torch.bool, torch.BoolStorage
	numDTypes
)

var dtypeInfo = [numDTypes]struct {
	name    string // torch dtype name without the "torch." prefix
	storage string // storage class name in the torch module
	size    int
}{
	Float32:  {"float32", "FloatStorage", 4},
	Float64:  {"float64", "DoubleStorage", 8},
	Float16:  {"float16", "HalfStorage", 2},
	BFloat16: {"bfloat16", "BFloat16Storage", 2},
	Int64:    {"int64", "LongStorage", 8},
	Int32:    {"int32", "IntStorage", 4},
	Int16:    {"int16", "ShortStorage", 2},
	Int8:     {"int8", "CharStorage", 1},
	Uint8:    {"uint8", "ByteStorage", 1},
	Bool:     {"bool", "BoolStorage", 1},
}

// Valid reports whether d is one of the defined DTypes.
func (d DType) Valid() bool { return d >= 0 && d < numDTypes }

// Size returns the number of bytes per element, or 0 for an invalid DType.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the torch dtype name without the "torch." prefix, e.g.
// "float32" or "int64", matching str(tensor.dtype) in Python minus the prefix.
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DType(%d)", int(d))
	}
	return dtypeInfo[d].name
}

// StorageClass returns the name of the PyTorch storage class that torch.save
// uses for d, e.g. "FloatStorage".
func (d DType) StorageClass() string {
	if !d.Valid() {
		return ""
	}
	return dtypeInfo[d].storage
}

// ParseDType returns the DType whose String is name; a "torch." prefix is
// accepted.
func ParseDType(name string) (DType, error) {
	if len(name) > 6 && name[:6] == "torch." {
		name = name[6:]
	}
	for d := DType(0); d < numDTypes; d++ {
		if dtypeInfo[d].name == name {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q", name)
}

// dtypeForStorage maps a storage class name to its DType.
func dtypeForStorage(class string) (DType, bool) {
	for d := DType(0); d < numDTypes; d++ {
		if dtypeInfo[d].storage == class {
			return d, true
		}
	}
	return 0, false
}
