package pth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// caseEntry is how a case.json describes one tensor of a .pth file.
type caseEntry struct {
	Shape []int64 `json:"shape"`
	DType string  `json:"dtype"`
}

// orderedEntries decodes a JSON object of entries keeping the key order,
// which is the order of the state_dict.
func orderedEntries(raw json.RawMessage) ([]string, map[string]caseEntry, error) {
	var m map[string]caseEntry
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil, err
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, err
		}
	}
	return keys, m, nil
}

// TestParityStateDicts loads every state_dict of the parity fixtures
// (written by the reference implementation with PyTorch 1.13) and checks
// keys, their order, shapes and dtypes against the case's case.json.
func TestParityStateDicts(t *testing.T) {
	dir := testsupport.NeedParityDir(t)
	cases, err := filepath.Glob(filepath.Join(dir, "*", "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, cj := range cases {
		b, err := os.ReadFile(cj)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Files map[string]struct {
				Entries json.RawMessage `json:"entries"`
			} `json:"files"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", cj, err)
		}
		for name, f := range c.Files {
			if !strings.HasSuffix(name, ".pth") || f.Entries == nil {
				continue
			}
			path := filepath.Join(filepath.Dir(cj), name)
			t.Run(strings.TrimPrefix(path, dir+string(filepath.Separator)), func(t *testing.T) {
				raw := f.Entries
				// pix2pixHD's cases describe gradients and weights after
				// the step as "same keys and shapes as <file>".
				var same string
				if json.Unmarshal(raw, &same) == nil {
					other, ok := strings.CutPrefix(same, "same keys and shapes as ")
					if !ok || c.Files[other].Entries == nil {
						t.Fatalf("%s: entries of %s: %q names no file with entries", cj, name, same)
					}
					raw = c.Files[other].Entries
				}
				keys, entries, err := orderedEntries(raw)
				if err != nil {
					t.Fatalf("%s: entries: %v", cj, err)
				}
				d, err := LoadStateDict(path)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("%q", d.Keys) != fmt.Sprintf("%q", keys) {
					t.Fatalf("keys\n%q\nwant\n%q", d.Keys, keys)
				}
				for _, k := range keys {
					tensor, _ := d.Tensor(k)
					e := entries[k]
					if tensor.DType.String() != e.DType || fmt.Sprint(tensor.Shape) != fmt.Sprint(e.Shape) {
						t.Errorf("%s: %v %v, want %s %v", k, tensor.DType, tensor.Shape, e.DType, e.Shape)
					}
					if tensor.Shape == nil || int64(len(tensor.Data)) != tensor.NumElements()*int64(tensor.DType.Size()) {
						t.Errorf("%s: shape %#v with %d bytes of data", k, tensor.Shape, len(tensor.Data))
					}
				}
			})
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("no .pth files listed in %s/*/case.json", dir)
	}
}
