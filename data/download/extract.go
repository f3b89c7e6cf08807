package download

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data/progress"
)

// safeJoin places an archive entry below dest, refusing names that would
// escape it (absolute paths, "..": the "zip slip" attack).
func safeJoin(dest, name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) || filepath.VolumeName(clean) != "" {
		return "", fmt.Errorf("archive entry %q points outside the destination", name)
	}
	return filepath.Join(dest, clean), nil
}

func writeEntry(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ExtractZip unpacks a zip archive into dest.
func ExtractZip(ctx context.Context, archive, dest string, progressW io.Writer) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", archive, err)
	}
	defer zr.Close()
	bar := progress.Count(progressW, len(zr.File), "unzip", "files")
	defer bar.Finish()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		path, err := safeJoin(dest, zf.Name)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		switch mode := zf.Mode(); {
		case mode.IsDir():
			err = os.MkdirAll(path, 0o755)
		case mode.IsRegular():
			var rc io.ReadCloser
			if rc, err = zf.Open(); err == nil {
				err = writeEntry(path, rc)
				rc.Close()
			}
		default:
			err = fmt.Errorf("entry %s is not a file or folder (%v); links are not unpacked", zf.Name, mode.Type())
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		bar.Add(1)
	}
	return nil
}

// ExtractTarGz unpacks a gzip-compressed tar archive into dest.
func ExtractTarGz(ctx context.Context, archive, dest string, progressW io.Writer) error {
	return extractTar(ctx, archive, dest, progressW, true, nil)
}

// extractTar unpacks a tar archive (gzipped or not) into dest; keep, when
// not nil, renames each entry and says whether to unpack it.
func extractTar(ctx context.Context, archive, dest string, progressW io.Writer, gzipped bool, keep func(string) (string, bool)) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", archive, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unpack %s: %w", archive, err)
	}
	// The entry count is unknown until the end, so the bar follows the
	// compressed bytes read.
	bar := progress.Bytes(progressW, st.Size(), "untar")
	defer bar.Finish()
	var r io.Reader = io.TeeReader(f, bar)
	if gzipped {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		name := h.Name
		if keep != nil {
			var ok bool
			if name, ok = keep(name); !ok {
				continue
			}
		}
		path, err := safeJoin(dest, name)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeEntry(path, tr)
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			err = fmt.Errorf("entry %s is not a file or folder (type %q); links are not unpacked", h.Name, h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
	}
}
