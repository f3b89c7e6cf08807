package models

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/torch"
)

// OneHotLabels uses the ids as channel indices and refuses what
// pix2pixHD's scatter_ would crash on (or silently mis-index), naming the
// value, the range and the fix.
func TestOneHotLabels(t *testing.T) {
	defer torch.NewScope().Close()
	cases := []struct {
		ids     []float32
		nc      int
		wantErr string
	}{
		{[]float32{0, 1, 2, 1}, 3, ""},
		{[]float32{0, 1, 3, 1}, 3, "label value 3 is outside 0..2 (--label_nc 3)"},
		{[]float32{0, -1, 0, 0}, 3, "label value -1 is outside"},
		{[]float32{0, 1.5, 0, 0}, 3, "integer class ids"},
	}
	for _, c := range cases {
		oh, err := OneHotLabels(torch.FromFloat32(c.ids, 1, 1, 2, 2), c.nc, "x.png")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "x.png") {
				t.Errorf("%v: error %v, want %q naming the file", c.ids, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		v := oh.Float32s()
		for p, id := range c.ids {
			for ch := 0; ch < c.nc; ch++ {
				want := float32(0)
				if int(id) == ch {
					want = 1
				}
				if v[ch*4+p] != want {
					t.Errorf("%v: channel %d pixel %d = %v", c.ids, ch, p, v[ch*4+p])
				}
			}
		}
	}
}

// EdgeMap marks both sides of every boundary between different ids (also
// between two instances of one class), ignoring the image border.
func TestEdgeMap(t *testing.T) {
	defer torch.NewScope().Close()
	inst := []float32{
		1, 1, 1, 1,
		1, 3000, 3001, 1,
		1, 3000, 3001, 1,
	}
	want := []float32{
		0, 1, 1, 0, // the corners' neighbours are all 1
		1, 1, 1, 1,
		1, 1, 1, 1,
	}
	want2 := []float32{ // a single id: no edges
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	got := EdgeMap(torch.FromFloat32(inst, 1, 1, 3, 4)).Float32s()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	if got := Edges(inst, 4, 3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Edges (in memory) %v, want %v", got, want)
	}
	same := make([]float32, 12)
	if got := EdgeMap(torch.FromFloat32(same, 1, 1, 3, 4)).Float32s(); fmt.Sprint(got) != fmt.Sprint(want2) {
		t.Errorf("edges of a constant map %v", got)
	}
	strip := []float32{5, 5, 6, 6}
	if got := EdgeMap(torch.FromFloat32(strip, 1, 1, 1, 4)).Float32s(); fmt.Sprint(got) != "[0 1 1 0]" {
		t.Errorf("edges of %v: %v, want [0 1 1 0]", strip, got)
	}
}

// k-means is deterministic for a seed, finds well-separated groups, and
// never makes more centres than points.
func TestKMeansAndClusters(t *testing.T) {
	pts := [][]float32{{0, 0}, {0.1, 0}, {0, 0.1}, {5, 5}, {5.1, 5}, {5, 5.1}}
	c1, c2 := KMeans(pts, 2, 7), KMeans(pts, 2, 7)
	if fmt.Sprint(c1) != fmt.Sprint(c2) {
		t.Fatalf("not deterministic: %v vs %v", c1, c2)
	}
	near := func(c []float32, x, y float64) bool {
		return math.Abs(float64(c[0])-x) < 1e-5 && math.Abs(float64(c[1])-y) < 1e-5
	}
	if !(near(c1[0], 0.1/3, 0.1/3) && near(c1[1], 5+0.1/3, 5+0.1/3)) && !(near(c1[1], 0.1/3, 0.1/3) && near(c1[0], 5+0.1/3, 5+0.1/3)) {
		t.Errorf("centres %v", c1)
	}
	feats := []InstanceFeature{
		{Label: 3, Feature: []float32{1, 1}, Size: 2}, {Label: 3, Feature: []float32{2, 2}, Size: 0.4}, // too small
		{Label: 1, Feature: []float32{0, 0}, Size: 1},
	}
	cl := ClusterFeatures(feats, 10, 0)
	if len(cl[3]) != 1 || len(cl[1]) != 1 || fmt.Sprint(cl[3][0]) != "[1 1]" {
		t.Errorf("clusters %v", cl)
	}
	path := filepath.Join(t.TempDir(), "c.json")
	if err := WriteClusters(path, cl); err != nil {
		t.Fatal(err)
	}
	back, err := ReadClusters(path)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(cl) {
		t.Errorf("round trip %v, %v", back, err)
	}
	if c, err := ReadClusters(filepath.Join(t.TempDir(), "none.json")); c != nil || err != nil {
		t.Errorf("missing file: %v %v", c, err)
	}
	// Each instance gets a centre of its label (id·1000+k → label id); an
	// unknown label gets zeros; the same id always the same centre.
	ids := []float32{3000, 3000, 1, 9}
	f := SampleFeatures(ids, 1, 4, 2, cl)
	if fmt.Sprint(f) != "[1 1 0 0 1 1 0 0]" {
		t.Errorf("features %v", f)
	}
	if InstanceLabel(26001) != 26 || InstanceLabel(7) != 7 {
		t.Error("InstanceLabel")
	}
}
