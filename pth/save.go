package pth

import (
	"cyclepix/atomicfile"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
)

// Save writes v to path in the format of torch.save(v, path) from PyTorch
// 1.13. v may be a *Dict (written as collections.OrderedDict), a
// map[string]any (a plain dict with sorted keys), a Tensor or *Tensor, an
// integer, float64 or float32, string, bool, nil, or a []any (a list) of
// these, nested arbitrarily. Every tensor gets its own storage; the same
// *Tensor or *Dict reached twice is written once and shared, as pickle does.
//
// The file is written to a temporary file in the same directory, synced and
// renamed over path, so a reader never sees a partial file. Its mode is
// 0644.
func Save(path string, v any) error {
	if err := save(path, v); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func save(path string, v any) error {
	p := newPickler()
	if err := p.dump(v); err != nil {
		return err
	}
	prefix := archiveName(path)
	// torch.save writes the storages in the order of their keys sorted as
	// strings ("0", "1", "10", "11", …, "2").
	keys := make([]string, len(p.storages))
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	sort.Strings(keys)
	return atomicfile.Write(path, func(w io.Writer) error {
		z := &zipWriter{w: w}
		if err := z.entry(prefix+"/data.pkl", p.buf.Bytes()); err != nil {
			return err
		}
		for _, k := range keys {
			i, _ := strconv.Atoi(k)
			if err := z.entry(prefix+"/data/"+k, p.storages[i].Data); err != nil {
				return err
			}
		}
		if err := z.entry(prefix+"/version", []byte("3\n")); err != nil {
			return err
		}
		return z.close()
	})
}

// archiveName returns the name of the archive's top-level folder as
// PyTorchStreamWriter derives it from the file name: the base name up to its
// last dot ("latest_net_G" for "checkpoints/latest_net_G.pth").
func archiveName(path string) string {
	base := filepath.Base(path)
	for i := len(base) - 1; i >= 0; i-- {
		if base[i] == '.' {
			base = base[:i]
			break
		}
	}
	if base == "" {
		// PyTorch would produce entries named "/data.pkl", which many zip
		// tools reject; use the name it gives archives written to buffers.
		return "archive"
	}
	return base
}
