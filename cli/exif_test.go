package cli_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/data/exif"
	"cyclepix/internal/testsupport/clitest"
)

// tagOrientation rewrites the JPEG at path with an APP1 Exif segment
// holding orientation o (little-endian TIFF) after its SOI.
func tagOrientation(t *testing.T, path string, o uint16) {
	t.Helper()
	j, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var seg bytes.Buffer
	seg.WriteString("Exif\x00\x00II\x2A\x00")
	binary.Write(&seg, binary.LittleEndian, uint32(8))
	binary.Write(&seg, binary.LittleEndian, uint16(1))
	binary.Write(&seg, binary.LittleEndian, []uint16{0x0112, 3})
	binary.Write(&seg, binary.LittleEndian, uint32(1))
	binary.Write(&seg, binary.LittleEndian, []uint16{o, 0})
	binary.Write(&seg, binary.LittleEndian, uint32(0))
	out := append([]byte(nil), j[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(seg.Len()+2))
	out = append(append(out, seg.Bytes()...), j[2:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTranslateEXIF translates a phone-style JPEG, stored 40×24 with
// orientation 6 (turn 90° clockwise): the output must be the translation
// of the upright 24×40 image (the decode of the file, turned by
// exif.Apply, which data/exif checks against Pillow, saved as PNG), and
// with --exif_transpose=false that of the pixels as stored.
func TestTranslateEXIF(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	saveTiny(t, tinySpec, filepath.Join(ck, "tiny", "latest_net_G.pth"), 1)
	model := append([]string{"--checkpoints_dir", ck, "--name", "tiny", "--format", "png"}, tinyArch...)
	photo := filepath.Join(dir, "in", "photo.jpg")
	writeImage(t, photo, 40, 24, false)
	stored, err := data.LoadImage(photo)
	if err != nil {
		t.Fatal(err)
	}
	tagOrientation(t, photo, exif.RotateCW)
	upright := filepath.Join(dir, "upright", "photo.png")
	plain := filepath.Join(dir, "plain", "photo.png")
	for path, img := range map[string]*data.Image{upright: exif.Apply(stored, exif.RotateCW), plain: stored} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := data.SaveImage(path, img); err != nil {
			t.Fatal(err)
		}
	}
	translate := func(in, out string, extra ...string) []byte {
		t.Helper()
		if _, stderr, code := clitest.Run(append(append([]string{"translate", in, "--output", out}, model...), extra...)...); code != 0 {
			t.Fatalf("translate %s %v: %s", in, extra, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "photo.png"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name  string
		extra []string
		same  string // the file whose translation it must equal
		w, h  int
	}{
		{"upright by default", nil, upright, 24, 40},
		{"as stored with --exif_transpose=false", []string{"--exif_transpose=false"}, plain, 40, 24},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out", strings.ReplaceAll(c.name, " ", "_"))
			got := translate(photo, out, c.extra...)
			if w, h, _ := imageSize(t, filepath.Join(out, "photo.png")); w != c.w || h != c.h {
				t.Errorf("output %dx%d, want %dx%d", w, h, c.w, c.h)
			}
			if want := translate(c.same, out+"_ref"); !bytes.Equal(got, want) {
				t.Errorf("output differs from the translation of %s", c.same)
			}
		})
	}
	stdout, _, _ := clitest.Run("translate", "--help")
	if !strings.Contains(stdout, "--exif_transpose") || !strings.Contains(stdout, "EXIF orientation") {
		t.Errorf("translate --help does not describe --exif_transpose:\n%s", stdout)
	}
}

// TestServeLimitFlags: serve's limit flags are checked before it listens,
// each bad value named in a one-line error, and described in --help.
func TestServeLimitFlags(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	saveTiny(t, tinySpec, filepath.Join(ck, "tiny", "latest_net_G.pth"), 1)
	model := append([]string{"serve", "--checkpoints_dir", ck, "--name", "tiny", "--addr", "127.0.0.1:0"}, tinyArch...)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--body_timeout", "0"}, "--body_timeout 0: want a positive number of seconds"},
		{[]string{"--header_timeout", "-1"}, "--header_timeout -1: want a positive"},
		{[]string{"--idle_timeout", "0"}, "--idle_timeout 0"},
		{[]string{"--max_conns", "-3"}, "--max_conns -3: want 0"},
		{[]string{"--max_conns_per_ip", "-1"}, "--max_conns_per_ip -1"},
		{[]string{"--max_body_memory", "1000"}, "--max_body_memory 1000 is less than --max_body_bytes"},
	} {
		_, stderr, code := clitest.Run(append(append([]string{}, model...), c.args...)...)
		last := strings.TrimSpace(stderr)
		if i := strings.LastIndexByte(last, '\n'); i >= 0 {
			last = last[i+1:]
		}
		if code != 1 || !strings.HasPrefix(last, "cyclepix serve: ") || !strings.Contains(last, c.want) {
			t.Errorf("serve %v: exit %d, last stderr line %q; want 1 and %q", c.args, code, last, c.want)
		}
	}
	stdout, _, _ := clitest.Run("serve", "--help")
	for _, flag := range []string{"--body_timeout", "--header_timeout", "--idle_timeout", "--max_conns", "--max_conns_per_ip", "--max_body_memory", "--exif_transpose"} {
		if !strings.Contains(stdout, flag+" ") && !strings.Contains(stdout, flag+"\n") {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
}
