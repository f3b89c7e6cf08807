package pth

import (
	"bufio"
	"fmt"
	"io"
	"os"
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
	return writeAtomic(path, func(w io.Writer) error {
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

// writeAtomic writes a file through write into a temporary file next to
// path and renames it over path once it is complete and synced, then syncs
// the directory so that the rename itself survives a crash.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
