package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cyclepix/data/raster"
)

// The pix2pixhd mode reads NVIDIA pix2pixHD's folder layout
// (data/aligned_dataset.py) and preprocesses as pix2pixHD does
// (HDTransform):
//
//   - inputs: <phase>_A, images of --input_nc channels, with --label_nc 0;
//     otherwise <phase>_label, one-channel maps of class ids 0..label_nc-1;
//   - targets: <phase>_B (label_nc 0) or <phase>_img, images of
//     --output_nc channels; required in the train phase, read in other
//     phases when the folder exists (test then shows and scores real_B);
//   - <phase>_inst, instance maps of integer ids (Cityscapes: 16-bit PNGs,
//     class id for stuff, class·1000+k for things), unless --no_instance;
//   - <phase>_feat, precomputed instance features as RGB images, with
//     --load_features.
//
// Files pair by sorted order, as pix2pixHD's sorted(make_dataset(dir)),
// because Cityscapes' names differ between folders (_gtFine_labelIds,
// _leftImg8bit); the counts must agree, where pix2pixHD would silently
// mispair.
//
// Label and instance maps are read raw (8- or 16-bit grey, a palette
// PNG's indices, TIFF, .npy) and come out as their integer ids in float32,
// NEAREST-resampled and not normalised. pix2pixHD itself scales 8-bit
// instance maps to [0, 1] (ToTensor on a mode L image) but keeps 16-bit
// ones raw; here both are raw ids, so that instance ids mean the same
// whatever the file's depth.
func init() {
	RegisterMode("pix2pixhd", Mode{
		New:     newHD,
		Summary: "pix2pixHD's layout: <phase>_label (class ids) or <phase>_A, <phase>_img or <phase>_B, <phase>_inst, <phase>_feat, paired by sorted order",
		Flags: []Flag{
			{Name: "label_nc", Default: 0, Help: "number of input label classes; 0: <phase>_A holds images instead of <phase>_label class ids"},
			{Name: "no_instance", Default: false, Help: "do not read instance maps (<phase>_inst)"},
			{Name: "load_features", Default: false, Help: "read precomputed instance features (<phase>_feat)"},
		},
		Folders: hdFolders,
	})
}

// hdOptions are the pix2pixHD options the mode reads from Options.Extra.
type hdOptions struct {
	labelNC  int  // --label_nc
	instance bool // not --no_instance
	features bool // --load_features
	// base is what preprocess none rounds sizes to a multiple of:
	// 2^n_downsample_global, times 2^n_local_enhancers with --netG local;
	// 0 when --n_downsample_global is not given (no rounding).
	base int
}

// hdInt reads an integer option from Extra; the options layer may have
// written it as a float ("4" or "4.0" alike).
func hdInt(o Options, name string, def int) (int, error) {
	s, ok := o.Extra[name]
	if !ok {
		return def, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, fmt.Errorf("dataset_mode pix2pixhd: --%s %q is not an integer", name, s)
	}
	return int(f), nil
}

func hdBool(o Options, name string) (bool, error) {
	s, ok := o.Extra[name]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("dataset_mode pix2pixhd: --%s %q is not true or false", name, s)
	}
	return b, nil
}

func parseHD(o Options) (hdOptions, error) {
	var h hdOptions
	var err error
	if h.labelNC, err = hdInt(o, "label_nc", 0); err != nil {
		return h, err
	}
	if h.labelNC < 0 {
		return h, fmt.Errorf("dataset_mode pix2pixhd: --label_nc %d must not be negative (0 reads images from <phase>_A)", h.labelNC)
	}
	noInst, err := hdBool(o, "no_instance")
	if err != nil {
		return h, err
	}
	h.instance = !noInst
	if h.features, err = hdBool(o, "load_features"); err != nil {
		return h, err
	}
	if h.features && !h.instance {
		// pix2pixHD reads features only beside instance maps (they are
		// per-instance); silently ignoring the flag would hide the mistake.
		return h, errors.New("dataset_mode pix2pixhd: --load_features needs instance maps (features are per instance): drop --no_instance or --load_features")
	}
	if _, ok := o.Extra["n_downsample_global"]; ok {
		n, err := hdInt(o, "n_downsample_global", 0)
		if err != nil {
			return h, err
		}
		local := 0
		if o.Extra["netG"] == "local" {
			// pix2pixHD's default --n_local_enhancers is 1.
			if local, err = hdInt(o, "n_local_enhancers", 1); err != nil {
				return h, err
			}
		}
		if n < 0 || local < 0 || n+local > 16 {
			return h, fmt.Errorf("dataset_mode pix2pixhd: --n_downsample_global %d and --n_local_enhancers %d must be 0 or more, 16 together at most", n, local)
		}
		h.base = 1 << (n + local)
	}
	return h, nil
}

// hdDirs are the folder names, relative to --dataroot, of the layout.
type hdDirs struct{ input, target, inst, feat string }

func (h hdOptions) dirs(phase string) hdDirs {
	d := hdDirs{input: phase + "_A", target: phase + "_B", inst: phase + "_inst", feat: phase + "_feat"}
	if h.labelNC > 0 {
		d.input, d.target = phase+"_label", phase+"_img"
	}
	return d
}

// hdWantsTarget reports whether the target folder is read: always in the
// train phase (where it is required), elsewhere when it exists.
func hdWantsTarget(o Options, dir string) bool {
	if o.Phase == "train" {
		return true
	}
	st, err := os.Stat(filepath.Join(o.Dataroot, dir))
	return err == nil && st.IsDir()
}

// hdFolders is the mode's Folders. Options that do not parse give none,
// so that Check goes on to the factory, which names the option.
func hdFolders(o Options) []Folder {
	h, err := parseHD(o)
	if err != nil {
		return nil
	}
	d := h.dirs(o.Phase)
	fs := []Folder{{Dir: d.input}}
	if hdWantsTarget(o, d.target) {
		fs = append(fs, Folder{Dir: d.target})
	}
	if h.instance {
		fs = append(fs, Folder{Dir: d.inst})
	}
	if h.features {
		fs = append(fs, Folder{Dir: d.feat})
	}
	return fs
}

type hdDataset struct {
	o                 Options
	h                 hdOptions
	a, b, inst, feats []string // b, inst, feats may be nil
}

func newHD(o Options) (Dataset, error) {
	h, err := parseHD(o)
	if err != nil {
		return nil, err
	}
	if o.Direction != "AtoB" {
		return nil, fmt.Errorf("dataset_mode pix2pixhd: --direction %s is not supported: pix2pixHD maps <phase>_A or <phase>_label to <phase>_B or <phase>_img; use --direction AtoB (swap the folders to translate the other way)", o.Direction)
	}
	sides := []string{"B"}
	if h.labelNC == 0 {
		sides = append(sides, "A")
	}
	if err := checkSides("pix2pixhd", &o, sides...); err != nil {
		return nil, err
	}
	d := h.dirs(o.Phase)
	layout := "pix2pixHD's layout (" + strings.Join(folderNames(hdFolders(o)), ", ") + " under <dataroot>, files paired by sorted order)"
	list := func(dir string) ([]string, error) {
		return imageFolder(filepath.Join(o.Dataroot, dir), 0, "pix2pixhd", layout)
	}
	ds := &hdDataset{o: o, h: h}
	if ds.a, err = list(d.input); err != nil {
		return nil, err
	}
	same := func(dir string) ([]string, error) {
		ps, err := list(dir)
		if err != nil {
			return nil, err
		}
		if len(ps) != len(ds.a) {
			return nil, fmt.Errorf("dataset_mode pix2pixhd: %s has %d images but %s has %d: files pair by sorted order, so each folder must hold one file per sample (add the missing files or remove the extra ones)",
				filepath.Join(o.Dataroot, d.input), len(ds.a), filepath.Join(o.Dataroot, dir), len(ps))
		}
		return ps, nil
	}
	if hdWantsTarget(o, d.target) {
		if ds.b, err = same(d.target); err != nil {
			return nil, err
		}
	}
	if h.instance {
		if ds.inst, err = same(d.inst); err != nil {
			return nil, err
		}
	}
	if h.features {
		if ds.feats, err = same(d.feat); err != nil {
			return nil, err
		}
	}
	// Folders pair as wholes; --max_dataset_size then keeps the first.
	if n := o.MaxDatasetSize; n > 0 && len(ds.a) > n {
		ds.a = ds.a[:n]
		for _, ps := range []*[]string{&ds.b, &ds.inst, &ds.feats} {
			if *ps != nil {
				*ps = (*ps)[:n]
			}
		}
	}
	return ds, nil
}

func folderNames(fs []Folder) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Dir
	}
	return names
}

// Len is the number of input files. pix2pixHD rounds it down to a multiple
// of --batch_size, so its last files are never seen; cyclepix's Loader
// keeps a smaller last batch instead, as for every other mode.
func (d *hdDataset) Len() int { return len(d.a) }

func (d *hdDataset) Get(i int, rng *rand.Rand) (*Sample, error) {
	sa, sb := d.o.Sides()
	s := &Sample{Arrays: map[string]*Array{}, Paths: map[string]string{"A_paths": d.a[i]}}
	var a *Image
	var err error
	if d.h.labelNC > 0 {
		a, err = readLabelMap(d.a[i], d.h.labelNC)
	} else {
		a, err = loadSide(d.a[i], &d.o, sa, func(m *Image) (*Image, error) { return m.Channels(sa.NC) })
	}
	if err != nil {
		return nil, err
	}
	// pix2pixHD draws the crop and flip from the input's size; every other
	// file of the sample shares them.
	p := GetParams(&d.o, a.W, a.H, rng)
	nearest := d.h.labelNC > 0
	sameSize := func(path string, m *Image) error {
		if m.W != a.W || m.H != a.H {
			return fmt.Errorf("%s is %dx%d but its input %s is %dx%d: the files of a sample must have one size (files pair by sorted order; check that the folders list the same samples)", path, m.W, m.H, d.a[i], a.W, a.H)
		}
		return nil
	}
	ta, err := HDTransform(a, &d.o, d.h.base, p, nearest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.a[i], err)
	}
	if nearest {
		s.Arrays["A"] = idArray(ta)
	} else {
		s.Arrays["A"] = chw(ta)
	}
	if d.b != nil {
		path := d.b[i]
		b, err := loadSide(path, &d.o, sb, func(m *Image) (*Image, error) { return m.Channels(sb.NC) })
		if err != nil {
			return nil, err
		}
		if err := sameSize(path, b); err != nil {
			return nil, err
		}
		tb, err := HDTransform(b, &d.o, d.h.base, p, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.Arrays["B"], s.Paths["B_paths"] = chw(tb), path
	}
	if d.inst != nil {
		path := d.inst[i]
		m, err := readIDMap(path, "instance map", "instance maps hold integer ids in one channel (Cityscapes' *_instanceIds.png are 16-bit grey): save it as a grey PNG")
		if err != nil {
			return nil, err
		}
		if err := sameSize(path, m); err != nil {
			return nil, err
		}
		tm, err := HDTransform(m, &d.o, d.h.base, p, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.Arrays["inst"], s.Paths["inst_paths"] = idArray(tm), path
	}
	if d.feats != nil {
		path := d.feats[i]
		// pix2pixHD's convert('RGB'), then the input's transform
		// (NEAREST with label maps, so that per-instance features stay
		// constant over each instance), then normalised.
		f, err := LoadImageDepth(path, d.o.Depth)
		if err != nil {
			return nil, err
		}
		if f, err = f.Channels(3); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := sameSize(path, f); err != nil {
			return nil, err
		}
		tf, err := HDTransform(f, &d.o, d.h.base, p, nearest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.Arrays["feat"], s.Paths["feat_paths"] = chw(tf), path
	}
	return s, nil
}

// idArray wraps an id map (readIDMap) as a [1, H, W] array of its ids.
func idArray(m *Image) *Array {
	return &Array{Shape: []int{1, m.H, m.W}, Data: m.Float}
}

// readLabelMap reads a label map and checks that every value is a class
// id below labelNC: pix2pixHD would crash in its one-hot scatter_ instead,
// far from the file.
func readLabelMap(path string, labelNC int) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read label map: %w", err)
	}
	return DecodeLabelMap(b, path, labelNC)
}

// DecodeLabelMap decodes a label map file's bytes (path names it in
// errors) as DecodeIDMap does and checks that every value is a class id
// below labelNC.
func DecodeLabelMap(b []byte, path string, labelNC int) (*Image, error) {
	fix := fmt.Sprintf("--label_nc %d needs class ids 0..%d in one channel (a grey or palette PNG of ids), not colour-coded labels: convert the colours to ids", labelNC, labelNC-1)
	m, err := DecodeIDMap(b, path, "label map", fix)
	if err != nil {
		return nil, err
	}
	bad := -1
	top := float32(0)
	for j, v := range m.Float {
		if bad < 0 && (v != float32(math.Trunc(float64(v))) || v < 0 || v >= float32(labelNC)) {
			bad = j
		}
		top = max(top, v)
	}
	if bad < 0 {
		return m, nil
	}
	v, x, y := m.Float[bad], bad%m.W, bad/m.W
	if v != float32(math.Trunc(float64(v))) || v < 0 {
		return nil, fmt.Errorf("%s: label value %g at pixel (x=%d, y=%d) is not a class id: label maps hold integers 0..%d (--label_nc %d); remap the values to class ids", path, v, x, y, labelNC-1, labelNC)
	}
	return nil, fmt.Errorf("%s: label value %g at pixel (x=%d, y=%d) is not below --label_nc %d: set --label_nc %d or more (the largest id + 1), or remap the ids to 0..%d", path, v, x, y, labelNC, int(top)+1, labelNC-1)
}

// readIDMap reads a map of integer ids (labels, instances) as they are
// stored, one channel, into an Image whose Float holds the ids themselves
// (not in [0, 1]: such an image only goes through HDTransform with
// nearest, never Tensor). 16-bit PNGs and TIFFs keep their raw values
// (26001 stays 26001), a palette PNG gives its indices as Pillow's mode P
// does, .npy its values; JPEG, BMP and PGM must be 8-bit grey. what names
// the map in errors, fix says what a map of several channels should be.
func readIDMap(path, what, fix string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return DecodeIDMap(b, path, what, fix)
}

// DecodeIDMap is readIDMap on a file's bytes.
func DecodeIDMap(b []byte, path, what, fix string) (*Image, error) {
	channels := func(c int) error {
		return fmt.Errorf("%s: the %s has %d channels, but %s", path, what, c, fix)
	}
	if sniff(b) == "png" {
		if h, err := readPNGHeader(b); err == nil && h.colorType == 3 {
			return paletteIndices(b, path, what)
		}
	}
	if raster.Sniff(b) != "" {
		r, err := raster.Decode(b, path)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", what, err)
		}
		if r.C != 1 {
			return nil, channels(r.C)
		}
		return &Image{W: r.W, H: r.H, C: 1, Float: r.Data}, nil
	}
	img, err := DecodeImage(b, path, DepthFull)
	if err != nil {
		return nil, err
	}
	if img.C != 1 {
		return nil, channels(img.C)
	}
	if img.HighDepth() {
		return nil, fmt.Errorf("%s: a 16-bit PGM %s is not read as raw ids: save it as a 16-bit grey PNG or TIFF", path, what)
	}
	ids := make([]float32, len(img.Pix))
	for j, v := range img.Pix {
		ids[j] = float32(v)
	}
	return &Image{W: img.W, H: img.H, C: 1, Float: ids}, nil
}

// paletteIndices reads a palette PNG's indices: what pix2pixHD gets from
// ToTensor on Pillow's mode P (VOC-style label maps store ids this way,
// with a palette only for viewing).
func paletteIndices(b []byte, path, what string) (*Image, error) {
	if err := checkSize(b, png.DecodeConfig); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", what, path, err)
	}
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", what, path, err)
	}
	pm, ok := m.(*image.Paletted)
	if !ok {
		return nil, fmt.Errorf("decode %s %s: a palette PNG decoded as %T", what, path, m)
	}
	w, h := pm.Rect.Dx(), pm.Rect.Dy()
	ids := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x, v := range pm.Pix[y*pm.Stride : y*pm.Stride+w] {
			ids[y*w+x] = float32(v)
		}
	}
	return &Image{W: w, H: h, C: 1, Float: ids}, nil
}
