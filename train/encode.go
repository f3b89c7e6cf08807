package train

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/options"
	"cyclepix/torch"
)

// EncodeFeatures is pix2pixHD's encode_features.py: it runs a trained
// pix2pixhd model's feature encoder over the --phase split (train by
// default), collects every instance's feature, clusters each label's
// into --n_clusters centres and writes them to the run's folder
// (models.ClusterPath), where test, translate, serve and export find them.
// It returns the file's path.
func EncodeFeatures(o *options.Set, out io.Writer) (string, error) {
	dev, err := models.Device(o)
	if err != nil {
		return "", err
	}
	dopt, err := models.DataOptions(o)
	if err != nil {
		return "", err
	}
	seed := Seed(o)
	torch.ManualSeed(seed)
	m, err := newModel(o, dev, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return "", err
	}
	hd, ok := m.(*models.Pix2PixHD)
	if !ok || hd.E == nil {
		return "", fmt.Errorf("encode_features works on pix2pixhd runs trained with --instance_feat or --label_feat (run %s is --model %s)", o.String("name"), o.String("model"))
	}
	b := m.Base()
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	if err := b.LoadNetworks(dir, models.LoadLabel(o)); err != nil {
		return "", err
	}
	b.SetTraining(false)
	loader, err := data.Create(dopt, seed)
	if err != nil {
		return "", err
	}
	var feats []models.InstanceFeature
	ep := loader.Epoch(context.Background(), 0)
	defer ep.Close()
	n := 0
	for {
		batch, err := ep.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		err = torch.TryErr(func() error {
			defer torch.NewScope().Close()
			if err := m.SetInput(BatchInput(batch, dev)); err != nil {
				return err
			}
			f, err := hd.EncodedInstances()
			feats = append(feats, f...)
			return err
		})
		if err != nil {
			return "", err
		}
		n += batch.Size
		fmt.Fprintf(out, "encoded %d images, %d instances\r", n, len(feats))
	}
	fmt.Fprintln(out)
	// Clustering is seeded by --seed itself (0 included), so that the same
	// run gives the same clusters.
	c := models.ClusterFeatures(feats, o.Int("n_clusters"), uint64(o.Int("seed")))
	path := models.ClusterPath(o)
	if err := models.WriteClusters(path, c); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "clustered the features of %d labels into at most %d centres each: %s\n", len(c), o.Int("n_clusters"), path)
	return path, nil
}
