package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"cyclepix/atomicfile"
	"cyclepix/networks"
	"cyclepix/options"
	"cyclepix/torch"
)

// Instance features at test time. A pix2pixHD generator trained with
// --instance_feat or --label_feat takes, besides the labels, feat_num
// channels holding each instance's encoded appearance. In training the
// encoder E computes them from the real image; to translate a label map
// alone, pix2pixHD's encode_features.py first runs E over the training
// set, clusters each label's instance features (k-means, --n_clusters)
// and its test.py then gives every instance a cluster centre of its label.
// cyclepix does the same: `cyclepix encode_features` writes the clusters
// next to the run's checkpoints, and the generator's LabelInput carries
// them to translate, serve and bundles.

// FeatureClusters are cluster centres of instance features by label.
type FeatureClusters map[int][][]float32

// hdBlockNum is encode_features.py's size unit: an instance counts when
// num / (h·w // 32) > 0.5, more than half of a 1/32 of the image.
const hdBlockNum = 32

// ClusterPath is where a run's feature clusters are:
// <checkpoints_dir>/<name>/<cluster_path>, by default
// features_clustered_<n_clusters, 3 digits>.json.
func ClusterPath(o *options.Set) string {
	name := fmt.Sprintf("features_clustered_%03d.json", o.Int("n_clusters"))
	if o.Has("cluster_path") && o.Given("cluster_path") {
		name = o.String("cluster_path")
	}
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(o.String("checkpoints_dir"), o.String("name"), name)
}

// ReadClusters reads a clusters file; a missing file gives nil and no
// error.
func ReadClusters(path string) (FeatureClusters, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var raw map[string][][]float32
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := FeatureClusters{}
	for k, v := range raw {
		l, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("%s: label %q is not a number", path, k)
		}
		c[l] = v
	}
	return c, nil
}

// WriteClusters writes clusters as JSON (label → centres), atomically.
func WriteClusters(path string, c FeatureClusters) error {
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// InstanceLabel is the label of an instance id, Cityscapes' convention
// that pix2pixHD relies on: ids below 1000 are the label, others
// label·1000 + k.
func InstanceLabel(id int) int {
	if id < 1000 {
		return id
	}
	return id / 1000
}

// SampleFeatures makes the feature channels for an id map (h·w ids): each
// instance gets one centre of its label's clusters, chosen by the
// instance id (so the same map always gives the same picture); instances
// of labels without clusters get zeros.
func SampleFeatures(ids []float32, h, w, featNum int, c FeatureClusters) []float32 {
	out := make([]float32, featNum*h*w)
	choice := map[float32][]float32{}
	for i, v := range ids {
		centre, ok := choice[v]
		if !ok {
			if cl := c[InstanceLabel(int(v))]; len(cl) > 0 {
				r := rand.New(rand.NewPCG(uint64(int64(v)), 0x5eed))
				centre = cl[r.IntN(len(cl))]
			}
			choice[v] = centre
		}
		for k := 0; k < featNum && k < len(centre); k++ {
			out[k*h*w+i] = centre[k]
		}
	}
	return out
}

// InstanceFeature is one instance's encoded feature and its size.
type InstanceFeature struct {
	Label   int
	Feature []float32
	// Size is the instance's pixel count over h·w // 32 (encode_features'
	// measure; instances with Size ≤ 0.5 are left out of the clusters).
	Size float64
}

// EncodedInstances runs E on the current input's real image and returns
// every instance's feature (the instance-wise mean) with its label and
// size: what encode_features collects.
func (m *Pix2PixHD) EncodedInstances() ([]InstanceFeature, error) {
	if m.E == nil {
		return nil, fmt.Errorf("the model has no feature encoder (train with --instance_feat or --label_feat)")
	}
	if m.realB == nil {
		return nil, fmt.Errorf("encode_features needs the real images (<phase>_img)")
	}
	ids := m.inst
	if m.cfg.labelFeat {
		ids = m.realA
	}
	var out []InstanceFeature
	torch.NoGrad(func() {
		feat := networks.InstanceMean(m.E.Forward(m.realB), ids)
		n, h, w := int(feat.Size(0)), int(feat.Size(2)), int(feat.Size(3))
		fv := feat.ToDevice(torch.CPU, torch.Float32).Contiguous().Float32s()
		iv := ids.ToDevice(torch.CPU, torch.Float32).Contiguous().Float32s()
		c := m.cfg.featNum
		for b := 0; b < n; b++ {
			first := map[float32]int{}
			count := map[float32]int{}
			var order []float32
			for p := 0; p < h*w; p++ {
				v := iv[b*h*w+p]
				if _, ok := first[v]; !ok {
					first[v] = p
					order = append(order, v)
				}
				count[v]++
			}
			for _, v := range order {
				f := make([]float32, c)
				for k := 0; k < c; k++ {
					f[k] = fv[(b*c+k)*h*w+first[v]]
				}
				out = append(out, InstanceFeature{Label: InstanceLabel(int(v)), Feature: f,
					Size: float64(count[v]) / float64(h*w/hdBlockNum)})
			}
		}
	})
	return out, nil
}

// ClusterFeatures is encode_features.py's clustering: per label, the
// features of instances larger than half a block, k-means into at most k
// centres (fewer when there are fewer instances).
func ClusterFeatures(feats []InstanceFeature, k int, seed uint64) FeatureClusters {
	byLabel := map[int][][]float32{}
	for _, f := range feats {
		if f.Size > 0.5 {
			byLabel[f.Label] = append(byLabel[f.Label], f.Feature)
		}
	}
	out := FeatureClusters{}
	labels := make([]int, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	sort.Ints(labels)
	for _, l := range labels {
		out[l] = KMeans(byLabel[l], min(k, len(byLabel[l])), seed+uint64(l))
	}
	return out
}

// KMeans clusters points into k centres: k-means++ seeding, then Lloyd's
// iterations until the assignment stops changing (at most 300, as
// scikit-learn's default). Deterministic for a seed.
func KMeans(points [][]float32, k int, seed uint64) [][]float32 {
	if k <= 0 || len(points) == 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 1))
	dim := len(points[0])
	dist := func(a, b []float32) float64 {
		s := 0.0
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			s += d * d
		}
		return s
	}
	centres := [][]float32{append([]float32(nil), points[r.IntN(len(points))]...)}
	d2 := make([]float64, len(points))
	for len(centres) < k {
		total := 0.0
		for i, p := range points {
			d2[i] = math.Inf(1)
			for _, c := range centres {
				d2[i] = math.Min(d2[i], dist(p, c))
			}
			total += d2[i]
		}
		pick := 0
		if total > 0 {
			x := r.Float64() * total
			for i := range points {
				if x -= d2[i]; x <= 0 {
					pick = i
					break
				}
			}
		} else {
			pick = r.IntN(len(points))
		}
		centres = append(centres, append([]float32(nil), points[pick]...))
	}
	assign := make([]int, len(points))
	for i := range assign {
		assign[i] = -1
	}
	for iter := 0; iter < 300; iter++ {
		changed := false
		for i, p := range points {
			best, bd := 0, math.Inf(1)
			for j, c := range centres {
				if d := dist(p, c); d < bd {
					best, bd = j, d
				}
			}
			if assign[i] != best {
				assign[i], changed = best, true
			}
		}
		if !changed {
			break
		}
		sums := make([][]float64, k)
		counts := make([]int, k)
		for j := range sums {
			sums[j] = make([]float64, dim)
		}
		for i, p := range points {
			counts[assign[i]]++
			for d := range p {
				sums[assign[i]][d] += float64(p[d])
			}
		}
		for j := range centres {
			if counts[j] == 0 {
				continue // an empty cluster keeps its centre
			}
			for d := range centres[j] {
				centres[j][d] = float32(sums[j][d] / float64(counts[j]))
			}
		}
	}
	return centres
}
