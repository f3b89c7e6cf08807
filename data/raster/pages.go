package raster

import "bytes"

// CountTIFFPages counts a TIFF's pages (image directories) from the file's
// bytes, stopping at limit: the answer is min(pages, limit). It walks only
// the chain of directory offsets (the TIFF reader's walker), so it is cheap
// enough to decide how to load a file; a chain that loops or points
// outside the file is an error.
func CountTIFFPages(b []byte, limit int) (int, error) {
	ch, err := tiffReadIFDChain(bytes.NewReader(b), int64(len(b)), limit)
	if err != nil {
		return 0, err
	}
	return len(ch.offsets), nil
}
