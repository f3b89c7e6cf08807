package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ImageExtensions are the file extensions MakeDataset collects (the
// reference's, and NumPy's .npy for data on their own scale), matched
// without regard to case (the reference lists only all-lower and all-upper
// spellings; "photo.Jpg" is an image here too).
var ImageExtensions = []string{".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".npy"}

// IsImageFile reports whether name has one of ImageExtensions.
func IsImageFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range ImageExtensions {
		if ext == e {
			return true
		}
	}
	return false
}

// MakeDataset lists the image files under dir, recursively (following
// symbolic links to folders, as the reference's os.walk(followlinks) does),
// sorted by path, keeping the first max when max > 0.
//
// The reference truncates before its datasets sort, so which files
// --max_dataset_size keeps depends on directory order; here the list is
// sorted first, so the choice is stable.
func MakeDataset(dir string, max int) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("image folder %s does not exist", dir)
		}
		return nil, fmt.Errorf("image folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("image folder %s is a file, not a folder", dir)
	}
	var paths []string
	visited := map[string]bool{}
	var walk func(d string) error
	walk = func(d string) error {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			return fmt.Errorf("scan %s: %w", d, err)
		}
		if visited[real] { // a link cycle
			return nil
		}
		visited[real] = true
		entries, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("scan %s: %w", d, err)
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(p); err == nil {
					isDir = st.IsDir()
				}
			}
			if isDir {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			if IsImageFile(e.Name()) {
				paths = append(paths, p)
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	sort.Strings(paths)
	if max > 0 && len(paths) > max {
		paths = paths[:max]
	}
	return paths, nil
}

// imageFolder is MakeDataset for a dataset mode: it also fails on an empty
// folder, with a message that says which layout the mode expects.
func imageFolder(dir string, max int, mode, layout string) ([]string, error) {
	paths, err := MakeDataset(dir, max)
	if err != nil {
		return nil, fmt.Errorf("dataset_mode %s expects %s: %w", mode, layout, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("dataset_mode %s expects %s: no images (%s) in %s", mode, layout, strings.Join(ImageExtensions, " "), dir)
	}
	return paths, nil
}
