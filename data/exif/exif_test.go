package exif

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/internal/testsupport"
)

// entry is one IFD entry: tag, type, count and the 4-byte value field, or
// values stored after the IFDs (the field then holds their offset).
type entry struct {
	tag, typ uint16
	count    uint32
	value    uint32 // SHORTs and BYTEs sit at the start of the field
	data     []byte
}

// exifSegment is an APP1 payload: "Exif\0\0" and a TIFF header (magic as
// given, so that the tolerated wrong-endian magics can be built) with one
// IFD of entries at offset 8, then an empty IFD1.
func exifSegment(bo binary.ByteOrder, magic string, entries []entry) []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	if bo == binary.LittleEndian {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	b.WriteString(magic)
	binary.Write(&b, bo, uint32(8))
	binary.Write(&b, bo, uint16(len(entries)))
	extra := 8 + 2 + 12*len(entries) + 4
	var tail []byte
	for _, e := range entries {
		binary.Write(&b, bo, e.tag)
		binary.Write(&b, bo, e.typ)
		binary.Write(&b, bo, e.count)
		var field [4]byte
		switch {
		case e.data != nil:
			bo.PutUint32(field[:], uint32(extra+len(tail)))
			tail = append(tail, e.data...)
		case e.typ == 1 || e.typ == 6:
			field[0] = byte(e.value)
		case e.typ == 3 || e.typ == 8:
			bo.PutUint16(field[:], uint16(e.value))
		default:
			bo.PutUint32(field[:], e.value)
		}
		b.Write(field[:])
	}
	binary.Write(&b, bo, uint32(0))
	b.Write(tail)
	return b.Bytes()
}

// orientationSegment is an Exif payload with an Orientation SHORT.
func orientationSegment(bo binary.ByteOrder, o uint32) []byte {
	magic := "\x2A\x00"
	if bo == binary.BigEndian {
		magic = "\x00\x2A"
	}
	return exifSegment(bo, magic, []entry{{0x010F, 2, 4, 0, nil}, {0x0112, 3, 1, o, nil}, {0x011A, 5, 1, 0, []byte{0, 0, 0, 72, 0, 0, 0, 1}}})
}

// segment is a marker segment: marker, then payload.
type segment struct {
	marker  byte
	payload []byte
}

// jpegWith is a 6×4 JPEG with segments inserted after SOI.
func jpegWith(t *testing.T, segs ...segment) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 6, 4))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 5)
	}
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	j := enc.Bytes()
	out := append([]byte(nil), j[:2]...)
	for _, s := range segs {
		out = append(out, 0xFF, s.marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(s.payload)+2))
		out = append(out, s.payload...)
	}
	return append(out, j[2:]...)
}

func TestOrientationMatchesPillow(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), `<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>`...)
	type tc struct {
		name string
		file []byte
		want int
	}
	var cases []tc
	for o := 1; o <= 8; o++ {
		cases = append(cases,
			tc{fmt.Sprintf("little-endian %d", o), jpegWith(t, segment{0xE1, orientationSegment(le, uint32(o))}), o},
			tc{fmt.Sprintf("big-endian %d", o), jpegWith(t, segment{0xE1, orientationSegment(be, uint32(o))}), o})
	}
	jfif := segment{0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")}
	cases = append(cases, []tc{
		{"no Exif", jpegWith(t), 1},
		{"after JFIF and a comment", jpegWith(t, jfif, segment{0xFE, []byte("hello")}, segment{0xE1, orientationSegment(be, 6)}), 6},
		{"Exif without orientation", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x010F, 2, 4, 0, nil}})}), 1},
		{"orientation 0", jpegWith(t, segment{0xE1, orientationSegment(le, 0)}), 1},
		{"orientation 9", jpegWith(t, segment{0xE1, orientationSegment(be, 9)}), 1},
		{"LONG orientation", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 4, 1, 8, nil}})}), 8},
		{"BYTE orientation", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 1, 1, 3, nil}})}), 1},
		{"SSHORT orientation", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 8, 1, 5, nil}})}), 5},
		{"two SHORTs: the first", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 3, 2, 6, nil}})}), 6},
		{"two LONGs at an offset", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 4, 2, 0, []byte{0, 0, 0, 7, 0, 0, 0, 1}}})}), 7},
		{"values past the end", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 3, 1, 6, nil}, {0x0112, 4, 200, 0, []byte{8}}})}), 6},
		{"RATIONAL 12/2", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 5, 1, 0, []byte{0, 0, 0, 12, 0, 0, 0, 2}}})}), 6},
		{"DOUBLE 8", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 12, 1, 0, []byte{0x40, 0x20, 0, 0, 0, 0, 0, 0}}})}), 8},
		{"FLOAT 2.5", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 11, 1, 0x40200000, nil}})}), 1},
		{"ASCII orientation", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 2, 1, '6', nil}})}), 1},
		{"unknown type skipped", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 3, 1, 4, nil}, {0x0112, 99, 1, 2, nil}})}), 4},
		{"later entry wins", jpegWith(t, segment{0xE1, exifSegment(le, "\x2A\x00", []entry{{0x0112, 3, 1, 6, nil}, {0x0112, 3, 1, 3, nil}})}), 3},
		{"empty entry skipped", jpegWith(t, segment{0xE1, exifSegment(be, "\x00\x2A", []entry{{0x0112, 3, 1, 5, nil}, {0x0112, 3, 0, 0, nil}})}), 5},
		{"wrong-endian magic, little", jpegWith(t, segment{0xE1, exifSegment(le, "\x00\x2A", []entry{{0x0112, 3, 1, 7, nil}})}), 7},
		{"wrong-endian magic, big", jpegWith(t, segment{0xE1, exifSegment(be, "\x2A\x00", []entry{{0x0112, 3, 1, 2, nil}})}), 2},
		{"first Exif segment wins", jpegWith(t, segment{0xE1, orientationSegment(le, 8)}, segment{0xE1, orientationSegment(le, 3)}), 8},
		{"XMP is not Exif", jpegWith(t, segment{0xE1, xmp}, segment{0xE1, orientationSegment(be, 4)}), 4},
		{"XMP orientation alone", jpegWith(t, segment{0xE1, xmp}), 1},
		{"truncated directory", jpegWith(t, segment{0xE1, orientationSegment(le, 6)[:6+8+2+12+12]}), 6},
		{"directory past the end", jpegWith(t, segment{0xE1, orientationSegment(le, 6)[:6+8+1]}), 1},
		{"not a TIFF header", jpegWith(t, segment{0xE1, []byte("Exif\x00\x00XX\x2A\x00\x08\x00\x00\x00")}), 1},
		{"Exif\\0 without the second zero", jpegWith(t, segment{0xE1, []byte("Exif\x00MM\x00\x2A\x00\x00\x00\x08")}), 1},
	}...)
	// Not a JPEG, and JPEGs cut short, for Orientation alone (Pillow
	// cannot open them).
	for _, c := range []tc{
		{"PNG", testPNG(t), 1},
		{"empty", nil, 1},
		{"SOI only", []byte{0xFF, 0xD8}, 1},
		{"cut inside the Exif segment", jpegWith(t, segment{0xE1, orientationSegment(le, 6)})[:30], 1},
	} {
		if got := Orientation(c.file); got != c.want {
			t.Errorf("%s: orientation %d, want %d", c.name, got, c.want)
		}
	}

	dir := t.TempDir()
	var paths []string
	for i, c := range cases {
		if got := Orientation(c.file); got != c.want {
			t.Errorf("%s: orientation %d, want %d", c.name, got, c.want)
		}
		p := filepath.Join(dir, fmt.Sprintf("%02d.jpg", i))
		if err := os.WriteFile(p, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := FileOrientation(p); err != nil || got != c.want {
			t.Errorf("%s: FileOrientation %d, %v; want %d", c.name, got, err, c.want)
		}
		paths = append(paths, p)
	}
	if _, err := FileOrientation(filepath.Join(dir, "missing.jpg")); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Errorf("missing file: %v", err)
	}

	testsupport.NeedPython(t, "PIL.ImageOps")
	var ref []struct {
		Orientation int
		Size        [2]int
		Error       string
	}
	if err := json.Unmarshal(testsupport.RunPythonFile(t, "testdata/pillow.py", append([]string{"orient"}, paths...)...), &ref); err != nil || len(ref) != len(cases) {
		t.Fatalf("pillow.py orient: %d answers for %d files: %v", len(ref), len(cases), err)
	}
	for i, c := range cases {
		r := ref[i]
		want := r.Orientation
		if r.Error != "" {
			want = 1 // exif_transpose raises; cyclepix translates the image as stored
		}
		if got := Orientation(c.file); got != want {
			t.Errorf("%s: orientation %d, Pillow's exif_transpose %d %s", c.name, got, want, r.Error)
		}
		if r.Error != "" {
			continue
		}
		img := Apply(&data.Image{W: 6, H: 4, C: 3, Pix: make([]uint8, 6*4*3)}, Orientation(c.file))
		if [2]int{img.W, img.H} != r.Size {
			t.Errorf("%s: upright size %dx%d, Pillow's %dx%d", c.name, img.W, img.H, r.Size[0], r.Size[1])
		}
	}
}

// testPNG is a 5×3 RGB PNG with every sample distinct.
func testPNG(t *testing.T) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(10*x + y), uint8(100 + 10*x + y), uint8(200 + 3*x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func loadPNG(t *testing.T, path string) *data.Image {
	t.Helper()
	m, err := data.LoadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestApplyMatchesPillow turns a lossless source with each orientation
// and compares every sample with Pillow's exif_transpose of the same
// pixels (a PNG carrying the orientation in its eXIf chunk), for RGB and
// grey, 8-bit and float.
func TestApplyMatchesPillow(t *testing.T) {
	testsupport.NeedPython(t, "PIL.ImageOps")
	dir := t.TempDir()
	rgb, err := data.DecodeImage(testPNG(t), "test.png", data.DepthFull)
	if err != nil {
		t.Fatal(err)
	}
	grey := rgb.Gray()
	for _, src := range []struct {
		name string
		img  *data.Image
	}{{"rgb", rgb}, {"grey", grey}} {
		t.Run(src.name, func(t *testing.T) {
			sub := filepath.Join(dir, src.name)
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			srcPath := filepath.Join(sub, "src.png")
			if err := data.SaveImage(srcPath, src.img); err != nil {
				t.Fatal(err)
			}
			testsupport.RunPythonFile(t, "testdata/pillow.py", "transpose", srcPath, sub)
			for o := 1; o <= 8; o++ {
				want := loadPNG(t, filepath.Join(sub, fmt.Sprintf("%d.png", o)))
				got := Apply(src.img, o)
				if got.W != want.W || got.H != want.H || got.C != want.C || !bytes.Equal(got.Pix, want.Pix) {
					t.Errorf("orientation %d: %dx%dx%d %v, Pillow %dx%dx%d %v", o, got.W, got.H, got.C, got.Pix, want.W, want.H, want.C, want.Pix)
				}
				f := Apply(toFloat(src.img), o)
				if wf := toFloat(want); f.W != wf.W || f.H != wf.H || f.Pix != nil || fmt.Sprint(f.Float) != fmt.Sprint(wf.Float) {
					t.Errorf("orientation %d, float: %dx%d %v, want %dx%d %v", o, f.W, f.H, f.Float, wf.W, wf.H, wf.Float)
				}
			}
			if Apply(src.img, 1) != src.img || Apply(src.img, 0) != src.img || Apply(src.img, 9) != src.img {
				t.Error("orientations 1, 0 and 9 should return the image itself")
			}
		})
	}
}

func toFloat(m *data.Image) *data.Image {
	out := &data.Image{W: m.W, H: m.H, C: m.C, Float: make([]float32, len(m.Pix))}
	for i, v := range m.Pix {
		out.Float[i] = float32(v) / 255
	}
	return out
}
