package serve

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"

	"cyclepix/data"
	"cyclepix/data/exif"
	"cyclepix/infer"
)

// withOrientation inserts an APP1 Exif segment with orientation o (a
// big-endian TIFF, as many cameras write) after a JPEG's SOI.
func withOrientation(j []byte, o uint16) []byte {
	var t bytes.Buffer
	t.WriteString("Exif\x00\x00MM\x00\x2A")
	binary.Write(&t, binary.BigEndian, uint32(8))
	binary.Write(&t, binary.BigEndian, uint16(1))
	binary.Write(&t, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&t, binary.BigEndian, uint32(1))
	binary.Write(&t, binary.BigEndian, []uint16{o, 0})
	binary.Write(&t, binary.BigEndian, uint32(0))
	out := append([]byte(nil), j[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(t.Len()+2))
	return append(append(out, t.Bytes()...), j[2:]...)
}

// TestTranslateEXIF uploads a JPEG carrying each orientation: the answer
// must be the translation of the upright image (the server's own decode
// of the file, turned by exif.Apply, which data/exif checks against
// Pillow, and sent as a PNG), and name the orientation applied. With
// IgnoreOrientation it is the translation of the pixels as stored.
func TestTranslateEXIF(t *testing.T) {
	s, _ := newTestServer(t, Config{}, infer.Config{})
	plain, _ := newTestServer(t, Config{IgnoreOrientation: true}, infer.Config{})
	stored := testImage(t, 24, 16, "jpeg", false)
	decoded, err := s.decode(stored)
	if err != nil {
		t.Fatal(err)
	}
	pngOf := func(m *data.Image) []byte {
		var b bytes.Buffer
		if err := data.Encode(&b, m, ".png", 0); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	asStored := post(t, s, "", pngOf(decoded), nil, "")
	for o := 1; o <= 8; o++ {
		t.Run(strconv.Itoa(o), func(t *testing.T) {
			file := withOrientation(stored, uint16(o))
			got := post(t, s, "", file, nil, "")
			upright := exif.Apply(decoded, o)
			want := post(t, s, "", pngOf(upright), nil, "")
			if got.Code != 200 || want.Code != 200 {
				t.Fatalf("status %d, %d: %s", got.Code, want.Code, got.Body.String())
			}
			if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Error("the answer is not the translation of the upright image")
			}
			size, orient := got.Header().Get("X-Cyclepix-Size"), got.Header().Get("X-Cyclepix-Exif-Orientation")
			wantOrient := strconv.Itoa(o)
			if o == 1 {
				wantOrient = ""
			}
			if size != fmt.Sprintf("%dx%d", upright.W, upright.H) || orient != wantOrient {
				t.Errorf("size %q, orientation %q; want %dx%d, %q", size, orient, upright.W, upright.H, wantOrient)
			}
			ignored := post(t, plain, "", file, nil, "")
			if ignored.Code != 200 || !bytes.Equal(ignored.Body.Bytes(), asStored.Body.Bytes()) || ignored.Header().Get("X-Cyclepix-Exif-Orientation") != "" {
				t.Errorf("IgnoreOrientation: %d %v, want the stored pixels' translation", ignored.Code, ignored.Header())
			}
		})
	}
}
