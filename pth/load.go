package pth

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Load reads a file written by torch.save and returns the saved object as
// Go values: *Dict for dict and collections.OrderedDict (string keys only),
// *Tensor for tensors and parameters, int64, float64, string, bool, nil, and
// []any for lists and tuples. Objects that the pickle shares (the same
// tensor under two keys, say) are returned as the same Go pointer.
//
// Both the zip format (PyTorch ≥ 1.6; entries stored or
// DEFLATE-compressed, as zip tools may rewrite them) and the older legacy
// format (_use_new_zipfile_serialization=False, and every file from
// PyTorch before 1.6, such as torchvision's 2017 weights, also when
// pickled by Python 2) are read. Tensor data is returned contiguous and C
// ordered whatever the strides in the file; tensors that are views of one
// storage get separate copies of their elements.
//
// Attributes of dicts, such as the _metadata of a module's state_dict, are
// dropped. Anything else that is not plain data (pickled modules, NumPy
// arrays, dicts with non-string keys) is an error.
func Load(path string) (any, error) {
	v, err := load(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return v, nil
}

// LoadStateDict loads a file that holds a state_dict: a dict from string
// keys to tensors. It fails, naming the first offending key, if any value is
// not a tensor.
func LoadStateDict(path string) (*Dict, error) {
	v, err := Load(path)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, fmt.Errorf("load state dict %s: file holds %s, not a dict", path, describe(v))
	}
	for _, k := range d.Keys {
		if _, ok := d.Values[k].(*Tensor); !ok {
			return nil, fmt.Errorf("load state dict %s: value of key %q is %s, not a tensor", path, k, describe(d.Values[k]))
		}
	}
	return d, nil
}

// describe names the Python type of a loaded value for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "a bool"
	case int64:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a str"
	case []any:
		return "a list"
	case *Dict:
		return "a dict"
	case *Tensor:
		return "a tensor"
	}
	return fmt.Sprintf("a %T", v)
}

func load(path string) (v any, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()

	// gopickle is not hardened against malformed input; a panic in it must
	// not take the caller down.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed file: %v", r)
		}
	}()

	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	switch {
	case n == 4 && string(head[:]) == "PK\x03\x04":
		return loadZip(f, size)
	case n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return loadLegacy(f, size)
	}
	var tarMagic [5]byte
	if n, _ := f.ReadAt(tarMagic[:], 257); n == 5 && string(tarMagic[:]) == "ustar" {
		return nil, errors.New("tar-based checkpoints (PyTorch 0.1.x) are not supported")
	}
	return nil, errors.New("not a torch.save file: neither a zip archive nor a legacy pickle")
}

// storage is a storage that the pickle refers to by key.
type storage struct {
	key   string
	dtype DType
	numel int64

	// A legacy storage view covers numel elements of root from viewOffset.
	root       *storage
	viewOffset int64

	data   []byte // root storages: the contents, once loaded
	loaded bool
	users  int // tensors that still have to copy from data
}

// base returns the root storage and the element offset of s within it.
func (s *storage) base() (*storage, int64) {
	if s.root != nil {
		return s.root, s.viewOffset
	}
	return s, 0
}

// tensorRef is a tensor as the pickle describes it: a strided view of a
// storage. It becomes a Tensor once the storages are available.
type tensorRef struct {
	storage *storage
	offset  int64
	shape   []int64
	stride  []int64
}

// loader holds the state of loading one file.
type loader struct {
	legacy   bool
	storages map[string]*storage
	// read loads the contents of a root storage.
	read func(s *storage) ([]byte, error)
	memo map[any]any
}

func newLoader() *loader {
	return &loader{storages: map[string]*storage{}, memo: map[any]any{}}
}

func loadZip(f *os.File, size int64) (any, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("read zip archive: %w", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, zf := range zr.File {
		files[zf.Name] = zf
		// The top-level folder is the stem of the file name at save time,
		// which need not match the current name; find it via data.pkl.
		if pkl == nil && (zf.Name == "data.pkl" || strings.HasSuffix(zf.Name, "/data.pkl") && strings.Count(zf.Name, "/") == 1) {
			pkl = zf
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive has no data.pkl entry")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if _, ok := files[prefix+"constants.pkl"]; ok {
		return nil, errors.New("TorchScript archives (torch.jit.save) are not supported")
	}
	if bo, ok := files[prefix+"byteorder"]; ok {
		b, err := readEntry(bo, int64(bo.UncompressedSize64), size)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("storages are %q-endian; only little-endian files are supported", b)
		}
	}
	pklData, err := readEntry(pkl, int64(pkl.UncompressedSize64), size)
	if err != nil {
		return nil, err
	}

	l := newLoader()
	l.read = func(s *storage) ([]byte, error) {
		zf, ok := files[prefix+"data/"+s.key]
		if !ok {
			return nil, fmt.Errorf("storage %q: no entry %sdata/%s in the archive", s.key, prefix, s.key)
		}
		return readEntry(zf, s.numel*int64(s.dtype.Size()), size)
	}
	obj, err := l.unpickle(newByteStream(bytes.NewReader(pklData), int64(len(pklData))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return l.convert(obj, "", 0)
}

// readEntry reads a zip entry that must hold exactly want bytes, without
// trusting the sizes in the archive for allocation.
func readEntry(zf *zip.File, want, fileSize int64) ([]byte, error) {
	if want < 0 || zf.UncompressedSize64 != uint64(want) {
		return nil, fmt.Errorf("entry %s has %d bytes, expected %d", zf.Name, zf.UncompressedSize64, want)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", zf.Name, err)
	}
	defer rc.Close()
	var b []byte
	if zf.Method == zip.Store {
		if want > fileSize {
			return nil, fmt.Errorf("entry %s: size %d exceeds the file", zf.Name, want)
		}
		b = make([]byte, want)
		_, err = io.ReadFull(rc, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(rc, want))
		if err == nil && int64(len(b)) != want {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", zf.Name, unexpectedEOF(err))
	}
	// archive/zip verifies the CRC-32 when a read reaches the end of the
	// entry, which ReadFull of exactly the entry's size does not do.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("longer than its declared size")
		}
		return nil, fmt.Errorf("entry %s: %w", zf.Name, err)
	}
	return b, nil
}

// legacyMagic is the number that the legacy format starts with.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadLegacy reads the format of torch.save before PyTorch 1.6: five
// pickles in a row (magic number, protocol version 1001, sys_info, the
// object, the list of storage keys), then for each key an int64 element
// count and the storage's raw bytes.
func loadLegacy(f *os.File, size int64) (any, error) {
	s := newByteStream(bufio.NewReaderSize(f, int(min(size, 1<<20))), size)
	l := newLoader()
	l.legacy = true

	magic, err := l.unpickle(s)
	if err != nil {
		return nil, fmt.Errorf("legacy header: %w", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errors.New("not a torch.save file: bad magic number")
	}
	proto, err := l.unpickle(s)
	if err != nil {
		return nil, fmt.Errorf("legacy header: %w", err)
	}
	if proto != 1001 {
		return nil, fmt.Errorf("unsupported legacy protocol version %v", proto)
	}
	sysInfo, err := l.unpickle(s)
	if err != nil {
		return nil, fmt.Errorf("legacy header: %w", err)
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le != true {
			return nil, errors.New("big-endian legacy files are not supported")
		}
	}
	obj, err := l.unpickle(s)
	if err != nil {
		return nil, err
	}
	keysObj, err := l.unpickle(s)
	if err != nil {
		return nil, fmt.Errorf("storage key list: %w", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage key list is a %T, not a list", keysObj)
	}
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("storage key %v is not a string", k)
		}
		st, ok := l.storages[key]
		if !ok || st.root != nil {
			return nil, fmt.Errorf("storage %q has data but the pickle does not use it", key)
		}
		if st.loaded {
			return nil, fmt.Errorf("storage %q has data twice", key)
		}
		head, err := s.readFull(8)
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		numel := int64(uint64(head[0]) | uint64(head[1])<<8 | uint64(head[2])<<16 | uint64(head[3])<<24 |
			uint64(head[4])<<32 | uint64(head[5])<<40 | uint64(head[6])<<48 | uint64(head[7])<<56)
		if numel != st.numel {
			return nil, fmt.Errorf("storage %q: file has %d elements, pickle says %d", key, numel, st.numel)
		}
		if st.data, err = s.readFull(numel * int64(st.dtype.Size())); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		st.loaded = true
	}
	l.read = func(s *storage) ([]byte, error) {
		return nil, fmt.Errorf("storage %q: no data in the file", s.key)
	}
	return l.convert(obj, "", 0)
}

// unpickle reads and validates one pickle from s, then unpickles it with
// PyTorch's classes resolved to this package's types.
func (l *loader) unpickle(s *byteStream) (any, error) {
	data, err := readPickle(s)
	if err != nil {
		return nil, err
	}
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = findClass
	u.PersistentLoad = l.persistentLoad
	v, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickle: %w", err)
	}
	return v, nil
}

// storageType is a storage class such as torch.FloatStorage.
type storageType struct {
	dtype DType
}

func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{v2: true}, nil
	case "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	case "torch.Size":
		return torchSize{}, nil
	case "cyclepix.od.OrderedDict":
		return orderedDictClass{}, nil
	}
	if module == "torch" || module == "torch.cuda" {
		if d, ok := dtypeForStorage(name); ok {
			return storageType{d}, nil
		}
	}
	return &unsupportedClass{module, name}, nil
}

// persistentLoad resolves the persistent ids of storages:
//
//	('storage', storage_type, key, location, numel)                 zip format
//	('storage', storage_type, key, location, numel, view_metadata)  legacy
//
// The location (a device) is ignored: the bytes are the same.
func (l *loader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() == 0 {
		return nil, fmt.Errorf("persistent id %v is not a tuple", pid)
	}
	if kind, _ := t.Get(0).(string); kind != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v is not supported", t.Get(0))
	}
	want := 5
	if l.legacy {
		want = 6
	}
	if t.Len() != want {
		return nil, fmt.Errorf("storage persistent id has %d fields, expected %d", t.Len(), want)
	}
	typ, ok := t.Get(1).(storageType)
	if !ok {
		return nil, fmt.Errorf("storage type %v is not supported", describePickled(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("storage key %v is not a string", t.Get(2))
	}
	numel, ok := toInt64(t.Get(4))
	if !ok || numel < 0 || numel > 1<<62/int64(typ.dtype.Size()) {
		return nil, fmt.Errorf("storage %q: invalid element count %v", key, t.Get(4))
	}
	s, ok := l.storages[key]
	if !ok {
		s = &storage{key: key, dtype: typ.dtype, numel: numel}
		l.storages[key] = s
	} else if s.dtype != typ.dtype || s.numel != numel || s.root != nil {
		return nil, fmt.Errorf("storage %q is used with different types or sizes", key)
	}
	if !l.legacy || t.Get(5) == nil {
		return s, nil
	}
	view, ok := t.Get(5).(*types.Tuple)
	if !ok || view.Len() != 3 {
		return nil, fmt.Errorf("storage %q: invalid view metadata %v", key, t.Get(5))
	}
	viewKey, ok1 := view.Get(0).(string)
	off, ok2 := toInt64(view.Get(1))
	n, ok3 := toInt64(view.Get(2))
	if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 || off > numel || n > numel-off {
		return nil, fmt.Errorf("storage %q: invalid view metadata %v", key, t.Get(5))
	}
	if v, ok := l.storages[viewKey]; ok {
		if v.root != s || v.viewOffset != off || v.numel != n {
			return nil, fmt.Errorf("storage view %q is used inconsistently", viewKey)
		}
		return v, nil
	}
	v := &storage{key: viewKey, dtype: typ.dtype, numel: n, root: s, viewOffset: off}
	l.storages[viewKey] = v
	return v, nil
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]) or, for old
// files, torch._utils._rebuild_tensor(storage, storage_offset, size, stride).
type rebuildTensor struct{ v2 bool }

func (r rebuildTensor) Call(args ...any) (any, error) {
	if r.v2 && len(args) != 6 && len(args) != 7 || !r.v2 && len(args) != 4 {
		return nil, fmt.Errorf("tensor rebuild: unexpected %d arguments", len(args))
	}
	s, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("tensor rebuild: %s is not a storage", describePickled(args[0]))
	}
	offset, ok := toInt64(args[1])
	if !ok || offset < 0 {
		return nil, fmt.Errorf("tensor rebuild: invalid storage offset %v", args[1])
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("tensor rebuild: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("tensor rebuild: stride: %w", err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("tensor rebuild: size %v and stride %v differ in length", shape, stride)
	}
	n := numElements(shape)
	if n < 0 {
		return nil, fmt.Errorf("tensor rebuild: invalid size %v", shape)
	}
	if n > 0 {
		// The last element must lie inside the storage.
		last := offset
		for i, sz := range shape {
			if stride[i] < 0 {
				return nil, fmt.Errorf("tensor rebuild: negative stride %v", stride)
			}
			if stride[i] > 0 && sz-1 > (s.numel-last)/stride[i] {
				return nil, fmt.Errorf("tensor rebuild: size %v, stride %v, offset %d exceed the storage of %d elements", shape, stride, offset, s.numel)
			}
			last += (sz - 1) * stride[i]
		}
		if last >= s.numel {
			return nil, fmt.Errorf("tensor rebuild: size %v, stride %v, offset %d exceed the storage of %d elements", shape, stride, offset, s.numel)
		}
	}
	root, _ := s.base()
	root.users++
	return &tensorRef{storage: s, offset: offset, shape: shape, stride: stride}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks); a Parameter loads as its data.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("parameter rebuild: unexpected %d arguments", len(args))
	}
	if _, ok := args[0].(*tensorRef); !ok {
		return nil, fmt.Errorf("parameter rebuild: %s is not a tensor", describePickled(args[0]))
	}
	return args[0], nil
}

// torchSize is torch.Size, a tuple subclass that old PyTorch versions
// pickled for tensor sizes.
type torchSize struct{}

func (torchSize) Call(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("torch.Size: unexpected %d arguments", len(args))
	}
	return args[0], nil
}

// orderedDictClass is collections.OrderedDict (see orderedDictGlobal):
// called with no arguments as Python 3 pickles it (the items follow as
// SETITEMS), or with one list of [key, value] pairs as Python 2 did.
type orderedDictClass struct{}

func (orderedDictClass) Call(args ...any) (any, error) {
	d := types.NewOrderedDict()
	if len(args) == 0 {
		return d, nil
	}
	var items []any
	ok := false
	switch x := args[0].(type) {
	case *types.List:
		items, ok = *x, true
	case *types.Tuple:
		items, ok = *x, true
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("collections.OrderedDict: called with %d arguments; expected none or one list of [key, value] pairs", len(args))
	}
	if !ok {
		return nil, fmt.Errorf("collections.OrderedDict: argument %s is not a list of [key, value] pairs", describePickled(args[0]))
	}
	for i, it := range items {
		var pair []any
		switch p := it.(type) {
		case *types.List:
			pair = *p
		case *types.Tuple:
			pair = *p
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("collections.OrderedDict: item %d is not a [key, value] pair", i)
		}
		d.Set(pair[0], pair[1])
	}
	return d, nil
}

// unsupportedClass stands for any other global. Creating or updating its
// instances succeeds so that an unsupported object is reported with its
// position in the data rather than as an opaque unpickling failure.
type unsupportedClass struct{ module, name string }

type unsupportedObject struct{ class *unsupportedClass }

func (c *unsupportedClass) Call(...any) (any, error)  { return &unsupportedObject{c}, nil }
func (c *unsupportedClass) PyNew(...any) (any, error) { return &unsupportedObject{c}, nil }
func (o *unsupportedObject) PySetState(any) error     { return nil }

// describePickled names an unpickled value for error messages.
func describePickled(v any) string {
	switch x := v.(type) {
	case *unsupportedClass:
		return x.module + "." + x.name
	case *unsupportedObject:
		return "a " + x.class.module + "." + x.class.name + " object"
	case *storage:
		return "a bare storage"
	case *tensorRef:
		return "a tensor"
	}
	return fmt.Sprintf("%v", v)
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

func intTuple(v any) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%s is not a tuple", describePickled(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := toInt64(it)
		if !ok {
			return nil, fmt.Errorf("element %d (%v) is not an int", i, it)
		}
		out[i] = n
	}
	return out, nil
}

// convert turns an unpickled value into the Go types that Load documents.
// Containers are memoized by identity, which both preserves sharing and
// ends recursion on self-referencing containers.
func (l *loader) convert(v any, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("value at %s: nested more than %d levels deep", pathOrRoot(path), maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, string, float64:
		return x, nil
	case int:
		return int64(x), nil
	case *big.Int:
		if !x.IsInt64() {
			return nil, fmt.Errorf("integer %s at %s does not fit in int64", x, pathOrRoot(path))
		}
		return x.Int64(), nil
	case *tensorRef:
		if t, ok := l.memo[x]; ok {
			return t, nil
		}
		t, err := l.tensor(x)
		if err != nil {
			return nil, fmt.Errorf("tensor at %s: %w", pathOrRoot(path), err)
		}
		l.memo[x] = t
		return t, nil
	case *types.Tuple:
		return l.convertList(x, *x, path, depth)
	case *types.List:
		return l.convertList(x, *x, path, depth)
	case *types.Dict:
		if d, ok := l.memo[x]; ok {
			return d, nil
		}
		d := NewDict()
		l.memo[x] = d
		for _, e := range *x {
			if err := l.setItem(d, e.Key, e.Value, path, depth); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *types.OrderedDict:
		if d, ok := l.memo[x]; ok {
			return d, nil
		}
		d := NewDict()
		l.memo[x] = d
		for e := x.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := l.setItem(d, entry.Key, entry.Value, path, depth); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, fmt.Errorf("value at %s is %s, which is not supported", pathOrRoot(path), describePickled(v))
}

func (l *loader) convertList(key any, items []any, path string, depth int) (any, error) {
	if out, ok := l.memo[key]; ok {
		return out, nil
	}
	out := make([]any, len(items))
	l.memo[key] = out
	for i, it := range items {
		c, err := l.convert(it, path+"["+strconv.Itoa(i)+"]", depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (l *loader) setItem(d *Dict, k, v any, path string, depth int) error {
	key, ok := k.(string)
	if !ok {
		return fmt.Errorf("dict at %s has key %v of type %T; only string keys are supported", pathOrRoot(path), k, k)
	}
	c, err := l.convert(v, path+"["+strconv.Quote(key)+"]", depth+1)
	if err != nil {
		return err
	}
	d.Set(key, c)
	return nil
}

// tensor copies the elements of r out of its storage into a contiguous
// Tensor. When r is the only tensor on its storage and covers all of it,
// the storage's bytes are handed over without a copy. A storage's bytes are
// released once its last tensor has been built, so that memory use stays
// near one copy of the data.
func (l *loader) tensor(r *tensorRef) (*Tensor, error) {
	root, base := r.storage.base()
	if !root.loaded {
		data, err := l.read(root)
		if err != nil {
			return nil, err
		}
		root.data, root.loaded = data, true
	}
	es := int64(root.dtype.Size())
	n := numElements(r.shape)
	off := base + r.offset
	var data []byte
	switch {
	case n == 0:
		data = []byte{}
	case isContiguous(r.shape, r.stride):
		src := root.data[off*es : (off+n)*es]
		if root.users == 1 && off == 0 && n == root.numel {
			data = src
		} else {
			data = bytes.Clone(src)
		}
	default:
		data = make([]byte, n*es)
		gather(data, root.data, r.shape, r.stride, off, es)
	}
	root.users--
	if root.users == 0 {
		root.data = nil
	}
	return &Tensor{DType: root.dtype, Shape: r.shape, Data: data}, nil
}

// isContiguous reports whether strides describe C order, ignoring the
// strides of size-1 dimensions as PyTorch does.
func isContiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies the strided elements of src starting at element off into
// dst in C order.
func gather(dst, src []byte, shape, stride []int64, off, es int64) {
	pos := int64(0)
	var walk func(dim int, at int64)
	walk = func(dim int, at int64) {
		if dim == len(shape)-1 {
			if stride[dim] == 1 {
				pos += int64(copy(dst[pos:], src[at*es:(at+shape[dim])*es]))
				return
			}
			for i := int64(0); i < shape[dim]; i++ {
				p := (at + i*stride[dim]) * es
				pos += int64(copy(dst[pos:pos+es], src[p:p+es]))
			}
			return
		}
		for i := int64(0); i < shape[dim]; i++ {
			walk(dim+1, at+i*stride[dim])
		}
	}
	walk(0, off)
}
