package nn

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"cyclepix/pth"
	"cyclepix/torch"
)

var pthToTorch = map[pth.DType]torch.DType{
	pth.Float32: torch.Float32, pth.Float64: torch.Float64, pth.Float16: torch.Float16, pth.BFloat16: torch.BFloat16,
	pth.Int64: torch.Int64, pth.Int32: torch.Int32, pth.Int16: torch.Int16, pth.Int8: torch.Int8,
	pth.Uint8: torch.Uint8, pth.Bool: torch.Bool,
}

// FromPTH converts a file tensor to a libtorch tensor on the CPU.
func FromPTH(t *pth.Tensor) (*torch.Tensor, error) {
	d, ok := pthToTorch[t.DType]
	if !ok {
		return nil, fmt.Errorf("unsupported dtype %v", t.DType)
	}
	return torch.FromBytes(t.Data, d, t.Shape, torch.CPU)
}

// ToPTH copies a libtorch tensor into a file tensor.
func ToPTH(t *torch.Tensor) (*pth.Tensor, error) {
	for pd, td := range pthToTorch {
		if td == t.DType() {
			return &pth.Tensor{DType: pd, Shape: t.Shape(), Data: t.Bytes()}, nil
		}
	}
	return nil, fmt.Errorf("unsupported dtype %v", t.DType())
}

// ReadStateDict reads a torch.save'd state dict into CPU tensors. The
// tensors are not in any scope; the caller frees them (FreeAll).
func ReadStateDict(path string) (map[string]*torch.Tensor, []string, error) {
	d, err := pth.LoadStateDict(path)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*torch.Tensor, d.Len())
	for _, k := range d.Keys {
		pt, _ := d.Tensor(k)
		t, err := FromPTH(pt)
		if err != nil {
			FreeAll(out)
			return nil, nil, fmt.Errorf("%s: tensor %q: %w", path, k, err)
		}
		out[k] = t.Persist()
	}
	return out, d.Keys, nil
}

// FreeAll frees every tensor of a state dict.
func FreeAll(sd map[string]*torch.Tensor) {
	for _, t := range sd {
		t.Free()
	}
}

// LoadFile loads a PyTorch state dict file into m, checking every key and
// shape; errors name the file. A state dict saved from a net wrapped in
// torch.nn.DataParallel (or DistributedDataParallel), every key prefixed
// "module.", loads as the net's own (see stripDataParallel).
func LoadFile(m Module, path string) error {
	sd, _, err := ReadStateDict(path)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	defer FreeAll(sd)
	if stripped, ok := stripDataParallel(sd); ok && !ownKeysPrefixed(m) {
		// The same file may be loaded again (a retry with another
		// architecture, a server reloading): say it once per file.
		if _, seen := dataParallelLogged.LoadOrStore(path, true); !seen {
			slog.Info("checkpoint saved from a DataParallel-wrapped net: loading it without the \"module.\" key prefix", "file", path)
		}
		sd = stripped
	}
	if err := LoadStateDict(m, sd); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

// LoadMatching copies from a state dict file every tensor whose key and
// shape match one of m's (pix2pixHD's load_network fallback, which
// --load_pretrain relies on to start a 1024p local-enhancer run from a
// 512p global one). It returns how many tensors it copied and the
// top-level modules (the key's first part) of those it did not, sorted.
func LoadMatching(m Module, path string) (loaded int, missing []string, err error) {
	sd, _, err := ReadStateDict(path)
	if err != nil {
		return 0, nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer FreeAll(sd)
	if stripped, ok := stripDataParallel(sd); ok && !ownKeysPrefixed(m) {
		sd = stripped
	}
	seen := map[string]bool{}
	err = torch.Try(func() {
		for _, e := range StateDict(m) {
			src, ok := sd[e.Name]
			if ok && SameShape(src.Shape(), e.Tensor.Shape()) {
				e.Tensor.Copy_(src)
				loaded++
				continue
			}
			top := strings.SplitN(e.Name, ".", 2)[0]
			if !seen[top] {
				seen[top] = true
				missing = append(missing, top)
			}
		}
	})
	if err != nil {
		return 0, nil, fmt.Errorf("load %s: %w", path, err)
	}
	sort.Strings(missing)
	return loaded, missing, nil
}

// dataParallelLogged holds the files LoadFile said it stripped.
var dataParallelLogged sync.Map

// dataParallelPrefix is what torch.nn.DataParallel's state dict puts
// before the wrapped net's keys (the net is its submodule "module").
const dataParallelPrefix = "module."

// stripDataParallel returns sd with the "module." prefix taken off every
// key, and true, when every key has it: the state dict of a net saved
// while wrapped in torch.nn.DataParallel. The reference unwraps its nets
// before saving, but other PyTorch code often does not. When any key
// lacks the prefix (or sd is empty) it returns sd itself and false: a
// file of a net that merely has a submodule named "module" keeps its
// keys. The tensors are shared, not copied.
func stripDataParallel(sd map[string]*torch.Tensor) (map[string]*torch.Tensor, bool) {
	if len(sd) == 0 {
		return sd, false
	}
	for k := range sd {
		if !strings.HasPrefix(k, dataParallelPrefix) {
			return sd, false
		}
	}
	out := make(map[string]*torch.Tensor, len(sd))
	for k, t := range sd {
		out[strings.TrimPrefix(k, dataParallelPrefix)] = t
	}
	return out, true
}

// SaveFile writes m's state dict as torch.save would (PyTorch can load it
// with torch.load), atomically.
func SaveFile(m Module, path string) error {
	d := pth.NewDict()
	err := torch.TryErr(func() error {
		for _, e := range StateDict(m) {
			pt, err := ToPTH(e.Tensor)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", e.Name, err)
			}
			d.Set(e.Name, pt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return pth.Save(path, d)
}

// ownKeysPrefixed reports whether every key of m's own state dict starts
// with "module.": a net whose only child is named so, whose files must
// load as they are.
func ownKeysPrefixed(m Module) bool {
	entries := StateDict(m)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name, dataParallelPrefix) {
			return false
		}
	}
	return len(entries) > 0
}
