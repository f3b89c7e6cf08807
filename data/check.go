package data

import (
	"cyclepix/data/raster"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Folder is one image folder a dataset mode reads (Mode.Folders).
type Folder struct {
	// Dir is relative to --dataroot; "" is --dataroot itself.
	Dir string
	// SideBySide marks A|B pairs in one image (aligned): an image of odd
	// width cannot be split.
	SideBySide bool
}

func (f Folder) label() string {
	if f.Dir == "" {
		return "--dataroot"
	}
	return f.Dir
}

// phaseFolder is the Folders of modes that read <dataroot>/<phase>.
func phaseFolder(o Options) []Folder { return []Folder{{Dir: o.Phase}} }

// Size is an image's width and height in pixels.
type Size struct{ W, H int }

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.W, s.H) }

// Survey is what Check found.
type Survey struct {
	// Len is the number of samples per epoch.
	Len     int
	Folders []FolderSurvey
}

// FolderSurvey describes one of the mode's folders.
type FolderSurvey struct {
	Folder
	Path   string // the folder on disk
	Images int    // image files, after --max_dataset_size
	// Sizes are the sizes of its first few images (surveyCount) after the
	// resize step of --preprocess, as the crop sees them (one half of an
	// A|B pair); images whose header does not read are left out.
	Sizes []Size
}

// surveyCount is how many images per folder Check reads the size of:
// enough to see what is typical, few enough to take milliseconds.
const surveyCount = 8

// Check verifies, before anything slow happens, that o's dataset can be
// loaded: --dataroot is a folder, it has every folder the dataset mode
// reads, each of those has images, and the first image of each decodes.
// Errors are one line that names the folder or file, says what is wrong
// and how to fix it. It then makes the dataset (which checks the rest of
// the mode's options) to count its samples.
func Check(o Options) (*Survey, error) {
	m, ok := modes[o.DatasetMode]
	if !ok {
		return nil, fmt.Errorf("unknown --dataset_mode %q (choose from %s)", o.DatasetMode, strings.Join(Modes(), ", "))
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var folders []Folder
	if m.Folders != nil {
		folders = m.Folders(o)
	}
	root := o.Dataroot
	st, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--dataroot %s: no such folder (check the path; 'cyclepix data download NAME' or 'cyclepix data builtin NAME --out %s' makes a dataset)", root, root)
	case err != nil:
		return nil, fmt.Errorf("--dataroot %s: %w", root, err)
	case !st.IsDir():
		return nil, fmt.Errorf("--dataroot %s is a file, not a folder (%s)", root, needs(o.DatasetMode, folders))
	}
	s := &Survey{}
	for _, f := range folders {
		fs, err := checkFolder(o, f, folders)
		if err != nil {
			return nil, err
		}
		s.Folders = append(s.Folders, *fs)
	}
	ds, err := m.New(o)
	if err != nil {
		return nil, err
	}
	s.Len = ds.Len()
	return s, nil
}

// checkFolder checks one of the mode's folders and surveys its images.
func checkFolder(o Options, f Folder, all []Folder) (*FolderSurvey, error) {
	root := o.Dataroot
	dir := filepath.Join(root, f.Dir)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--dataroot %s: no %s folder (%s%s)", root, f.Dir, needs(o.DatasetMode, all), layoutHint(o, all))
	case err != nil:
		return nil, fmt.Errorf("--dataroot %s: %s: %w", root, f.Dir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("--dataroot %s: %s is a file, not a folder (%s)", root, f.Dir, needs(o.DatasetMode, all))
	}
	paths, err := MakeDataset(dir, o.MaxDatasetSize)
	if err != nil {
		return nil, fmt.Errorf("--dataroot %s: %w", root, err)
	}
	if len(paths) == 0 {
		where := "--dataroot " + root + ": " + f.Dir
		if f.Dir == "" {
			where = "--dataroot " + root
		}
		return nil, fmt.Errorf("%s has no images (%s, also in subfolders)%s", where, strings.Join(ImageExtensions, " "), otherFiles(dir))
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the first image of %s: %w", paths[0], f.label(), err)
	}
	// The folder's side: <phase>B holds the B images, every other folder
	// the A ones (or both, side by side).
	side := o.side("A")
	if strings.HasSuffix(f.Dir, "B") {
		side = o.side("B")
	}
	img, err := probeSide(b, paths[0], side, o.Depth)
	if err != nil {
		cause := err
		if u := errors.Unwrap(err); u != nil && !side.NeedsRaster(b) {
			cause = u // DecodeImage's own message repeats the path
		}
		return nil, fmt.Errorf("%s: the first image of %s does not decode (%v): replace or remove it", paths[0], f.label(), cause)
	}
	if f.SideBySide && img.W%2 != 0 {
		return nil, fmt.Errorf("%s is %d pixels wide: an %s dataset needs A|B pairs side by side, so an even width (make them with 'cyclepix data combine')", paths[0], img.W, o.DatasetMode)
	}
	if err := checkCrop(o, paths[0], img.W, img.H, f.SideBySide); err != nil {
		return nil, err
	}
	s := &FolderSurvey{Folder: f, Path: dir, Images: len(paths)}
	for i, p := range paths[:min(len(paths), surveyCount)] {
		c := Config{Width: img.W, Height: img.H}
		if i > 0 {
			if b, err = os.ReadFile(p); err != nil {
				continue
			}
			if c, err = DecodeConfig(b); err != nil {
				rc, rerr := raster.DecodeConfig(b)
				if rerr != nil {
					continue // it fails, naming itself, when it is loaded
				}
				c = Config{Width: rc.W, Height: rc.H}
			}
		}
		w, h := c.Width, c.Height
		if f.SideBySide {
			w /= 2
		}
		w, h = sizeAfterResize(&o, w, h)
		s.Sizes = append(s.Sizes, Size{w, h})
	}
	return s, nil
}

// checkCrop refuses a first image that every mode fails to crop (no
// larger than --crop_size either way, and smaller one way): training would
// only fail on it later, after building the networks. An image larger one
// way and smaller the other is left to the warnings, as aligned data fills
// it with black.
func checkCrop(o Options, path string, w, h int, sideBySide bool) error {
	if !o.crops() {
		return nil
	}
	if sideBySide {
		w /= 2
	}
	w, h = sizeAfterResize(&o, w, h)
	cs := o.CropSize
	if larger, smaller := w > cs || h > cs, w < cs || h < cs; !smaller || larger {
		return nil
	}
	how := "as loaded"
	if o.resizes() {
		how = "after --preprocess " + o.Preprocess
	}
	side := ""
	if sideBySide {
		side = " (each half)"
	}
	return fmt.Errorf("%s is %dx%d%s %s, smaller than --crop_size %d: use --crop_size %d or less, or --preprocess resize_and_crop --load_size %d", path, w, h, side, how, cs, min(w, h), max(o.LoadSize, cs))
}

// needs says which folders a mode reads: "an unaligned dataset needs
// trainA and trainB".
func needs(mode string, folders []Folder) string {
	if len(folders) == 0 {
		return "a " + mode + " dataset is a folder"
	}
	var names []string
	pairs := false
	for _, f := range folders {
		if f.Dir == "" {
			names = append(names, "images in --dataroot")
		} else {
			names = append(names, f.Dir)
		}
		pairs = pairs || f.SideBySide
	}
	art := "a"
	if strings.ContainsRune("aeiou", rune(mode[0])) {
		art = "an"
	}
	s := fmt.Sprintf("%s %s dataset needs %s", art, mode, strings.Join(names, " and "))
	if pairs {
		s += " with A|B pairs side by side"
	}
	return s
}

// layoutHint guesses, from what --dataroot holds, the likelier mistake
// behind a missing folder: a --dataroot one level too deep, the other
// layout's --dataset_mode, another --phase; else it lists what is there.
func layoutHint(o Options, folders []Folder) string {
	root := o.Dataroot
	isDirIn := func(dir, name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && st.IsDir()
	}
	if parent := filepath.Dir(filepath.Clean(root)); parent != filepath.Clean(root) {
		all := true
		for _, f := range folders {
			all = all && f.Dir != "" && isDirIn(parent, f.Dir)
		}
		if all {
			return fmt.Sprintf("; did you mean --dataroot %s?", parent)
		}
	}
	isDir := func(name string) bool { return isDirIn(root, name) }
	byName := map[string]bool{}
	for _, f := range folders {
		byName[f.Dir] = true
	}
	p := o.Phase
	switch {
	case byName[p+"A"] && isDir(p):
		return fmt.Sprintf("; it has %s/: did you mean --dataset_mode aligned?", p)
	case byName[p] && isDir(p+"A") && isDir(p+"B"):
		return fmt.Sprintf("; it has %sA and %sB: did you mean --dataset_mode unaligned?", p, p)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	var dirs []string
	images := 0
	for _, e := range entries {
		switch {
		case e.IsDir():
			dirs = append(dirs, e.Name())
		case IsImageFile(e.Name()):
			images++
		}
	}
	sort.Strings(dirs)
	switch {
	case len(dirs) > 0 && declaredAny(root, folders):
		// Half a dataset (trainA without trainB): the rest is missing,
		// not misnamed.
		if len(dirs) > 6 {
			dirs = append(dirs[:6], "…")
		}
		return fmt.Sprintf("; it has only %s", strings.Join(dirs, ", "))
	case len(dirs) > 0:
		if len(dirs) > 6 {
			dirs = append(dirs[:6], "…")
		}
		return fmt.Sprintf("; it has %s: check --phase %s and --dataset_mode %s", strings.Join(dirs, ", "), p, o.DatasetMode)
	case images > 0:
		return fmt.Sprintf("; it holds %d images itself: did you mean --dataset_mode single?", images)
	}
	return "; it is empty"
}

// declaredAny reports whether any of folders exists under root.
func declaredAny(root string, folders []Folder) bool {
	for _, f := range folders {
		if st, err := os.Stat(filepath.Join(root, f.Dir)); f.Dir != "" && err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// otherFiles says what an image folder holds instead of images, for the
// "no images" message.
func otherFiles(dir string) string {
	var other []string
	// An unreadable entry only shortens the list.
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			other = append(other, d.Name())
		}
		if len(other) >= 3 {
			return filepath.SkipAll
		}
		return nil
	})
	if len(other) > 0 {
		return fmt.Sprintf("; it has other files, such as %s: convert them to PNG or JPEG", strings.Join(other, ", "))
	}
	return ""
}
