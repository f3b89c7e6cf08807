package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestVGGWeightsResolve(t *testing.T) {
	for _, model := range []bool{false, true} {
		it, err := Resolve("vgg19", model, "")
		if err != nil || it != VGG19 {
			t.Errorf("Resolve(vgg19, model=%v) = %+v, %v; want VGG19", model, it, err)
		}
	}
	if _, err := Resolve("vgg19", false, "pix2pix"); err == nil || err.Error() != "vgg19 is torchvision's weights file, not a pix2pix download: drop --source pix2pix" {
		t.Errorf("vgg19 with --source: %v", err)
	}
	if _, err := Resolve("vgg16", false, ""); err == nil || !strings.Contains(err.Error(), "; weights: vgg19") {
		t.Errorf("unknown name: %v, want the weights listed", err)
	}
	// torchvision's hub checks the digits after the last '-' of the name
	// that the URL ends in.
	for _, w := range WeightsFiles {
		stem := strings.TrimSuffix(w.File, ".pth")
		if path.Base(w.Path) != w.File || stem[strings.LastIndex(stem, "-")+1:] != w.SHA256Prefix || !w.Weights {
			t.Errorf("%s: path %s, file %s, SHA-256 prefix %s disagree", w.Name, w.Path, w.File, w.SHA256Prefix)
		}
	}
	if VGG19.Host+VGG19.Path != "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" {
		t.Errorf("VGG19 from %s%s", VGG19.Host, VGG19.Path)
	}
}

// fakeWeights is a weights Item for body, named like torchvision's files
// after the first 8 hex digits of its SHA-256, or of prefix when given.
func fakeWeights(body []byte, prefix string) Item {
	sum := sha256.Sum256(body)
	if prefix == "" {
		prefix = hex.EncodeToString(sum[:])[:8]
	}
	name := "fake-" + prefix + ".pth"
	return Item{Name: "fake", Source: "test", Weights: true, Path: "/models/" + name, File: name, SHA256Prefix: prefix}
}

// TestVGGWeightsFetchResumes: a cut download leaves only the .part file; the
// next run asks for the rest, checks the hash of the whole and renames it
// into <To>/<File>; a third finds it in place and asks for nothing.
func TestVGGWeightsFetchResumes(t *testing.T) {
	body := payload(300_000)
	it := fakeWeights(body, "")
	s, ts := newServer(t, map[string][]byte{it.Path: body})
	s.cut[it.Path] = true
	to := filepath.Join(t.TempDir(), "hub", "checkpoints")
	dest := filepath.Join(to, it.File)
	var log bytes.Buffer
	o := Options{To: to, BaseURL: ts.URL, Client: ts.Client(), Log: &log}
	ctx := context.Background()

	if _, err := Fetch(ctx, it, o); err == nil || !strings.Contains(err.Error(), "run the command again to resume") {
		t.Fatalf("cut download: %v", err)
	}
	st, err := os.Stat(dest + ".part")
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(body)) {
		t.Fatalf(".part after the cut: %v %v", st, err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("a partial file is in place: %v", err)
	}
	got, err := Fetch(ctx, it, o)
	if err != nil || got != dest {
		t.Fatalf("resumed fetch: %s, %v; want %s", got, err, dest)
	}
	if want := "bytes=" + strconv.FormatInt(st.Size(), 10) + "-"; s.ranges[len(s.ranges)-1] != want {
		t.Errorf("resume asked for %q, want %q", s.ranges[len(s.ranges)-1], want)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, body) {
		t.Error("resumed file differs")
	}
	if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
		t.Error(".part left behind")
	}
	if !strings.Contains(log.String(), "checking the SHA-256") {
		t.Errorf("log %q does not mention the hash check", log.String())
	}
	requests := len(s.ranges)
	if got, err := Fetch(ctx, it, o); err != nil || got != dest || len(s.ranges) != requests || !strings.Contains(log.String(), "already exists") {
		t.Errorf("third fetch: %s, %v after %d more requests, log %q", got, err, len(s.ranges)-requests, log.String())
	}
}

// TestVGGWeightsHashMismatch: a download whose SHA-256 does not start
// with the expected digits is never put in place, and its .part is removed
// so that the next run starts over rather than resuming bad bytes; the
// error is one line with both prefixes. That holds for a whole download
// and for one resumed from a corrupt .part.
func TestVGGWeightsHashMismatch(t *testing.T) {
	body := payload(50_000)
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])[:8]
	wrong := "00000000"
	if actual == wrong {
		wrong = "11111111"
	}
	bad := fakeWeights(body, wrong)
	good := fakeWeights(body, "")
	s, ts := newServer(t, map[string][]byte{bad.Path: body, good.Path: body})
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		it      Item
		part    []byte // left from an earlier run
		wantErr string
	}{
		{"whole file", bad, nil, "SHA-256 starts with " + actual + ", expected " + wrong},
		{"resumed from a corrupt .part", good, bytes.Repeat([]byte{0xff}, 20_000), "expected " + actual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := t.TempDir()
			dest := filepath.Join(to, tc.it.File)
			if tc.part != nil {
				if err := os.WriteFile(dest+".part", tc.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := Options{To: to, BaseURL: ts.URL, Client: ts.Client()}
			_, err := Fetch(ctx, tc.it, o)
			url := ts.URL + tc.it.Path
			if err == nil || !strings.HasPrefix(err.Error(), "download "+url+": ") || !strings.Contains(err.Error(), tc.wantErr) ||
				!strings.HasSuffix(err.Error(), "removed it; run the command again") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line naming %s with %q", err, url, tc.wantErr)
			}
			for _, p := range []string{dest, dest + ".part"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s left after the mismatch: %v", p, err)
				}
			}
			if tc.part != nil && s.ranges[len(s.ranges)-1] != "bytes=20000-" {
				t.Errorf("asked for %q, want a resume from the .part", s.ranges[len(s.ranges)-1])
			}
		})
	}
	// After the removal a clean run succeeds.
	to := t.TempDir()
	if got, err := Fetch(ctx, good, Options{To: to, BaseURL: ts.URL, Client: ts.Client()}); err != nil || got != filepath.Join(to, good.File) {
		t.Errorf("clean fetch: %s, %v", got, err)
	}
}
