// Package pth reads and writes PyTorch checkpoint files in the format that
// torch.save produces (PyTorch 1.13, zip container, pickle protocol 2).
//
// A file is a zip archive with Stored (uncompressed) entries
//
//	<prefix>/data.pkl   the pickled object; tensors refer to storages by key
//	<prefix>/data/<key> raw little-endian bytes of one storage
//	<prefix>/version    "3\n"
//
// where <prefix> is the file name without directory and extension. Save
// reproduces PyTorch's writer byte for byte: the same pickle opcodes, memo
// numbering and batching as CPython's pickler, the same entry order, the
// 64-byte alignment of every entry's data and the same zip64 end records.
// (The one difference that can arise: CPython refers back to a string it
// has already written when it is the very same Python object, which for
// equal strings depends on interning; Save writes every string anew.)
//
// Only plain data is supported: tensors, dicts with string keys, lists,
// tuples (read as lists), ints, floats, strings, bools and None. That covers
// state_dicts and simple checkpoints; pickled modules or optimiser states
// with integer keys are rejected with an error.
//
// This package deals with bytes, dtypes and shapes only; it does no
// arithmetic on tensor contents.
package pth

import (
	"fmt"
	"sort"
)

// Tensor is a dense, contiguous (C order) tensor whose elements are stored
// little-endian in Data. A 0-d (scalar) tensor has Shape == []int64{} and one
// element.
type Tensor struct {
	DType DType
	Shape []int64
	Data  []byte
}

// NumElements returns the number of elements that Shape describes (1 for a
// 0-d tensor), or -1 if a dimension is negative or the product overflows.
func (t *Tensor) NumElements() int64 {
	return numElements(t.Shape)
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return -1
		}
		if s != 0 && n > (1<<62)/s {
			return -1
		}
		n *= s
	}
	return n
}

// validate checks that Data holds exactly the elements Shape describes.
func (t *Tensor) validate() error {
	if !t.DType.Valid() {
		return fmt.Errorf("invalid dtype %v", t.DType)
	}
	n := t.NumElements()
	if n < 0 {
		return fmt.Errorf("invalid shape %v", t.Shape)
	}
	if want := n * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Errorf("%s tensor of shape %v needs %d bytes, has %d", t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// Dict is a dictionary with string keys that remembers insertion order, the
// Go side of Python's dict and collections.OrderedDict (a state_dict is an
// OrderedDict of tensors).
//
// Keys lists every key once, in order; Values holds the value of each key.
// Use Set to keep the two consistent.
type Dict struct {
	Keys   []string
	Values map[string]any
}

// NewDict returns an empty Dict.
func NewDict() *Dict {
	return &Dict{Values: map[string]any{}}
}

// Set sets the value of key. A new key goes to the end; an existing key keeps
// its position, as in Python.
func (d *Dict) Set(key string, v any) {
	if d.Values == nil {
		d.Values = map[string]any{}
	}
	if _, ok := d.Values[key]; !ok {
		d.Keys = append(d.Keys, key)
	}
	d.Values[key] = v
}

// Get returns the value of key and whether it is present.
func (d *Dict) Get(key string) (any, bool) {
	v, ok := d.Values[key]
	return v, ok
}

// Tensor returns the value of key if it is a tensor.
func (d *Dict) Tensor(key string) (*Tensor, bool) {
	t, ok := d.Values[key].(*Tensor)
	return t, ok
}

// Len returns the number of keys.
func (d *Dict) Len() int { return len(d.Keys) }

// validate checks that Keys and Values describe the same set of keys.
func (d *Dict) validate() error {
	if len(d.Keys) != len(d.Values) {
		return fmt.Errorf("dict has %d keys but %d values", len(d.Keys), len(d.Values))
	}
	seen := make(map[string]bool, len(d.Keys))
	for _, k := range d.Keys {
		if seen[k] {
			return fmt.Errorf("dict key %q listed twice", k)
		}
		seen[k] = true
		if _, ok := d.Values[k]; !ok {
			return fmt.Errorf("dict key %q has no value", k)
		}
	}
	return nil
}

// sortedKeys returns the keys of m in sorted order, so that saving a Go map
// is deterministic.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
