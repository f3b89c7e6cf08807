package pth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Pickle opcodes used by the writer (protocol 2).
const (
	opMark       = '('
	opStop       = '.'
	opNone       = 'N'
	opReduce     = 'R'
	opAppend     = 'a'
	opAppends    = 'e'
	opEmptyDict  = '}'
	opEmptyList  = ']'
	opEmptyTuple = ')'
	opSetItem    = 's'
	opSetItems   = 'u'
	opTuple      = 't'
	opBinPersID  = 'Q'
	opBinInt     = 'J'
	opBinInt1    = 'K'
	opBinInt2    = 'M'
	opBinFloat   = 'G'
	opBinUnicode = 'X'
	opGlobal     = 'c'
	opBinGet     = 'h'
	opLongBinGet = 'j'
	opBinPut     = 'q'
	opLongBinPut = 'r'
	opProto      = 0x80
	opTuple1     = 0x85
	opTuple2     = 0x86
	opTuple3     = 0x87
	opNewTrue    = 0x88
	opNewFalse   = 0x89
	opLong1      = 0x8a
	opLong4      = 0x8b
)

// batchSize is CPython's pickle._BATCHSIZE: containers are written in chunks
// of this many items so that the unpickler's stack stays bounded.
const batchSize = 1000

// maxDepth bounds the nesting of containers, so that a list that contains
// itself is an error rather than a stack overflow.
const maxDepth = 1000

// pickler writes a pickle stream that is byte-identical to what CPython's
// C pickler (protocol 2) writes for the corresponding Python object inside
// torch.save: same opcodes, same batching, same memo numbering. Memo entries
// are created exactly where CPython creates them (every str, non-empty tuple,
// list, dict, global and reduced object), even though most are never reused,
// because the numbering of later BINPUTs depends on them.
type pickler struct {
	buf      bytes.Buffer
	memoLen  int
	globals  map[string]int  // "module\nname" -> memo index
	consts   map[string]int  // strings that CPython shares by identity
	tensors  map[*Tensor]int // memo index of each tensor already written
	dicts    map[*Dict]int
	storages []*Tensor // storage i holds the data of storages[i]
}

func newPickler() *pickler {
	return &pickler{
		globals: map[string]int{},
		consts:  map[string]int{},
		tensors: map[*Tensor]int{},
		dicts:   map[*Dict]int{},
	}
}

// dump pickles v as the whole stream.
func (p *pickler) dump(v any) error {
	p.buf.Write([]byte{opProto, 2})
	if err := p.save(v, "", 0); err != nil {
		return err
	}
	p.buf.WriteByte(opStop)
	return nil
}

func (p *pickler) memoize() {
	i := p.memoLen
	p.memoLen++
	if i < 256 {
		p.buf.Write([]byte{opBinPut, byte(i)})
		return
	}
	p.buf.WriteByte(opLongBinPut)
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
}

func (p *pickler) get(i int) {
	if i < 256 {
		p.buf.Write([]byte{opBinGet, byte(i)})
		return
	}
	p.buf.WriteByte(opLongBinGet)
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
}

func (p *pickler) global(module, name string) {
	key := module + "\n" + name
	if i, ok := p.globals[key]; ok {
		p.get(i)
		return
	}
	p.buf.WriteByte(opGlobal)
	p.buf.WriteString(key)
	p.buf.WriteByte('\n')
	p.globals[key] = p.memoLen
	p.memoize()
}

func (p *pickler) str(s string) {
	p.buf.WriteByte(opBinUnicode)
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.buf.WriteString(s)
	p.memoize()
}

// constStr writes a string that torch.save always passes as the same Python
// object (a literal in torch/serialization.py), so CPython memoizes it once
// and refers back to it afterwards.
func (p *pickler) constStr(s string) {
	if i, ok := p.consts[s]; ok {
		p.get(i)
		return
	}
	p.consts[s] = p.memoLen
	p.str(s)
}

// int64 follows CPython's save_long: the shortest of BININT1, BININT2 and
// BININT that fits, else LONG1 with the minimal two's complement encoding.
func (p *pickler) int64(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.buf.Write([]byte{opBinInt1, byte(v)})
	case v >= 0 && v <= 0xffff:
		p.buf.WriteByte(opBinInt2)
		p.buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf.WriteByte(opBinInt)
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		p.bigInt(big.NewInt(v))
	}
}

// bigInt writes LONG1/LONG4 with pickle.encode_long's encoding: little-endian
// two's complement in (bit_length >> 3) + 1 bytes, minus a redundant 0xff
// sign byte for negative numbers.
func (p *pickler) bigInt(v *big.Int) {
	n := v.BitLen()>>3 + 1
	b := make([]byte, n)
	// Two's complement of v modulo 256^n.
	m := new(big.Int).Set(v)
	if v.Sign() < 0 {
		m.Add(m, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	m.FillBytes(b) // big-endian
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	if v.Sign() < 0 && n > 1 && b[n-1] == 0xff && b[n-2]&0x80 != 0 {
		b = b[:n-1]
	}
	if len(b) < 256 {
		p.buf.Write([]byte{opLong1, byte(len(b))})
	} else {
		p.buf.WriteByte(opLong4)
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
	}
	p.buf.Write(b)
}

func (p *pickler) float(f float64) {
	p.buf.WriteByte(opBinFloat)
	p.buf.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
}

// intTuple writes a tuple of ints the way CPython's save_tuple does:
// EMPTY_TUPLE (not memoized) for (), TUPLE1-3 for short tuples, MARK…TUPLE
// otherwise.
func (p *pickler) intTuple(vs []int64) {
	if len(vs) == 0 {
		p.buf.WriteByte(opEmptyTuple)
		return
	}
	if len(vs) > 3 {
		p.buf.WriteByte(opMark)
	}
	for _, v := range vs {
		p.int64(v)
	}
	switch len(vs) {
	case 1:
		p.buf.WriteByte(opTuple1)
	case 2:
		p.buf.WriteByte(opTuple2)
	case 3:
		p.buf.WriteByte(opTuple3)
	default:
		p.buf.WriteByte(opTuple)
	}
	p.memoize()
}

// emptyOrderedDict writes collections.OrderedDict(), as pickled by
// OrderedDict.__reduce__.
func (p *pickler) emptyOrderedDict() {
	p.global("collections", "OrderedDict")
	p.buf.WriteByte(opEmptyTuple)
	p.buf.WriteByte(opReduce)
	p.memoize()
}

func (p *pickler) save(v any, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("value at %s: nested more than %d levels deep", pathOrRoot(path), maxDepth)
	}
	switch x := v.(type) {
	case nil:
		p.buf.WriteByte(opNone)
	case bool:
		if x {
			p.buf.WriteByte(opNewTrue)
		} else {
			p.buf.WriteByte(opNewFalse)
		}
	case int:
		p.int64(int64(x))
	case int8:
		p.int64(int64(x))
	case int16:
		p.int64(int64(x))
	case int32:
		p.int64(int64(x))
	case int64:
		p.int64(x)
	case uint8:
		p.int64(int64(x))
	case uint16:
		p.int64(int64(x))
	case uint32:
		p.int64(int64(x))
	case uint:
		p.bigInt(new(big.Int).SetUint64(uint64(x)))
	case uint64:
		if x <= math.MaxInt64 {
			p.int64(int64(x))
		} else {
			p.bigInt(new(big.Int).SetUint64(x))
		}
	case *big.Int:
		if x.IsInt64() {
			p.int64(x.Int64())
		} else {
			p.bigInt(x)
		}
	case float64:
		p.float(x)
	case float32:
		p.float(float64(x))
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string at %s is not valid UTF-8", pathOrRoot(path))
		}
		p.str(x)
	case Tensor:
		return p.tensor(&x, path)
	case *Tensor:
		if x == nil {
			return fmt.Errorf("nil *Tensor at %s", pathOrRoot(path))
		}
		return p.tensor(x, path)
	case Dict:
		return p.orderedDict(&x, path, depth)
	case *Dict:
		if x == nil {
			return fmt.Errorf("nil *Dict at %s", pathOrRoot(path))
		}
		return p.orderedDict(x, path, depth)
	case map[string]any:
		return p.dict(x, path, depth)
	case []any:
		return p.list(x, path, depth)
	default:
		return fmt.Errorf("value at %s has unsupported type %s", pathOrRoot(path), reflect.TypeOf(v))
	}
	return nil
}

// tensor writes t the way torch.Tensor.__reduce_ex__ does in PyTorch 1.13:
//
//	torch._utils._rebuild_tensor_v2(
//	    persistent_id(('storage', torch.XStorage, key, 'cpu', numel)),
//	    0, size, stride, False, collections.OrderedDict())
func (p *pickler) tensor(t *Tensor, path string) error {
	if i, ok := p.tensors[t]; ok {
		p.get(i)
		return nil
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("tensor at %s: %w", pathOrRoot(path), err)
	}
	key := strconv.Itoa(len(p.storages))
	p.storages = append(p.storages, t)

	p.global("torch._utils", "_rebuild_tensor_v2")
	p.buf.WriteByte(opMark) // arguments of _rebuild_tensor_v2

	p.buf.WriteByte(opMark) // persistent id of the storage
	p.constStr("storage")
	p.global("torch", t.DType.StorageClass())
	p.str(key)
	p.constStr("cpu")
	p.int64(t.NumElements())
	p.buf.WriteByte(opTuple)
	p.memoize()
	p.buf.WriteByte(opBinPersID)

	p.int64(0) // storage offset
	p.intTuple(t.Shape)
	p.intTuple(contiguousStrides(t.Shape))
	p.buf.WriteByte(opNewFalse) // requires_grad
	p.emptyOrderedDict()        // backward hooks

	p.buf.WriteByte(opTuple)
	p.memoize()
	p.buf.WriteByte(opReduce)
	p.tensors[t] = p.memoLen
	p.memoize()
	return nil
}

// contiguousStrides returns the strides PyTorch gives a contiguous tensor:
// like C order, except that a zero-sized dimension counts as size 1.
func contiguousStrides(shape []int64) []int64 {
	strides := make([]int64, len(shape))
	s := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = s
		s *= max(shape[i], 1)
	}
	return strides
}

// orderedDict writes d as collections.OrderedDict. OrderedDict pickles
// through __reduce__ with an items iterator, so CPython's batch_dict applies:
// a batch of exactly one item uses SETITEM.
func (p *pickler) orderedDict(d *Dict, path string, depth int) error {
	if i, ok := p.dicts[d]; ok {
		p.get(i)
		return nil
	}
	if err := d.validate(); err != nil {
		return fmt.Errorf("dict at %s: %w", pathOrRoot(path), err)
	}
	p.global("collections", "OrderedDict")
	p.buf.WriteByte(opEmptyTuple)
	p.buf.WriteByte(opReduce)
	p.dicts[d] = p.memoLen
	p.memoize()
	keys := d.Keys
	for len(keys) > 0 {
		n := min(len(keys), batchSize)
		if n == 1 {
			if err := p.item(d.Values, keys[0], path, depth); err != nil {
				return err
			}
			p.buf.WriteByte(opSetItem)
			break
		}
		p.buf.WriteByte(opMark)
		for _, k := range keys[:n] {
			if err := p.item(d.Values, k, path, depth); err != nil {
				return err
			}
		}
		p.buf.WriteByte(opSetItems)
		keys = keys[n:]
	}
	return nil
}

// dict writes m as a plain Python dict with sorted keys. CPython's
// batch_dict_exact special-cases only a one-item dict; otherwise every
// batch, including an empty last one after a multiple of 1000 items, is
// MARK…SETITEMS.
func (p *pickler) dict(m map[string]any, path string, depth int) error {
	p.buf.WriteByte(opEmptyDict)
	p.memoize()
	keys := sortedKeys(m)
	switch len(keys) {
	case 0:
		return nil
	case 1:
		if err := p.item(m, keys[0], path, depth); err != nil {
			return err
		}
		p.buf.WriteByte(opSetItem)
		return nil
	}
	for {
		n := min(len(keys), batchSize)
		p.buf.WriteByte(opMark)
		for _, k := range keys[:n] {
			if err := p.item(m, k, path, depth); err != nil {
				return err
			}
		}
		p.buf.WriteByte(opSetItems)
		keys = keys[n:]
		if n < batchSize {
			return nil
		}
	}
}

func (p *pickler) item(m map[string]any, k, path string, depth int) error {
	if !utf8.ValidString(k) {
		return fmt.Errorf("dict key %q at %s is not valid UTF-8", k, pathOrRoot(path))
	}
	p.str(k)
	return p.save(m[k], path+"["+strconv.Quote(k)+"]", depth+1)
}

// list writes l as a Python list following CPython's batch_list_exact: a
// one-item list uses APPEND, anything longer MARK…APPENDS per batch.
func (p *pickler) list(l []any, path string, depth int) error {
	p.buf.WriteByte(opEmptyList)
	p.memoize()
	switch len(l) {
	case 0:
		return nil
	case 1:
		if err := p.save(l[0], path+"[0]", depth+1); err != nil {
			return err
		}
		p.buf.WriteByte(opAppend)
		return nil
	}
	for i := 0; i < len(l); {
		n := min(len(l)-i, batchSize)
		p.buf.WriteByte(opMark)
		for j := i; j < i+n; j++ {
			if err := p.save(l[j], path+"["+strconv.Itoa(j)+"]", depth+1); err != nil {
				return err
			}
		}
		p.buf.WriteByte(opAppends)
		i += n
	}
	return nil
}

// pathOrRoot names a position in the saved object for error messages.
func pathOrRoot(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
