package infer

import (
	"fmt"
	"strings"

	"cyclepix/data"
	"cyclepix/models"
)

// Generators that take label maps (pix2pixHD with --label_nc, or with
// instance maps): their input is made from a label map file's class ids,
// not from an image's colours, so it starts from the file's bytes.

// TakesLabels reports whether the generator's input is made from a label
// map (or an image with instance edges) by PrepareLabels rather than from
// an image by Prepare.
func (m *Model) TakesLabels() bool { return m.Colour == models.ColourLabels }

// checkLabels validates a label generator's description at load time.
func (m *Model) checkLabels() error {
	l := m.Labels
	if l == nil {
		return fmt.Errorf("%s: a label-map generator without its label description (label_nc, edges)", m.Source)
	}
	want := l.ImageNC
	if l.Edges {
		want++
	}
	want += l.FeatNum
	if want != m.Spec.InputNC {
		return fmt.Errorf("%s: the label description gives %d input channels, the generator takes %d", m.Source, want, m.Spec.InputNC)
	}
	if l.FeatNum > 0 && l.Clusters == nil {
		return fmt.Errorf("%s: this generator also takes %d channels of instance features (trained with --instance_feat or --label_feat), drawn from the training set's feature clusters: run 'cyclepix encode_features --name <run>' first (or 'cyclepix test --use_encoded_image' with the target images)", m.Source, l.FeatNum)
	}
	return nil
}

// PrepareLabels makes a label generator's input from a label map file
// (class ids in one channel; or, for a generator trained with --label_nc 0,
// an image) and optionally an instance map file of the same size: the
// one-hot channels of the ids (or the image's channels), then the
// instance boundaries as one channel, then the instance features drawn
// from the run's feature clusters. Without an instance map the edges
// are the label map's own class boundaries: touching objects of one
// class then merge, where the instance map would have separated them. An
// image input needs its instance map.
func (m *Model) PrepareLabels(raw []byte, path string, inst []byte, instPath string) (Array, error) {
	l := m.Labels
	if l == nil {
		return Array{}, fmt.Errorf("%s: the model takes images, not label maps", m.Name)
	}
	var base Array
	var ids *data.Image
	if l.LabelNC > 0 {
		lm, err := data.DecodeLabelMap(raw, path, l.LabelNC)
		if err != nil {
			return Array{}, err
		}
		if lm, err = m.resizeIDs(lm); err != nil {
			return Array{}, err
		}
		base, ids = oneHot(lm, l.LabelNC), lm
	} else {
		img, err := data.DecodeSide(raw, path, m.In, data.DepthFull)
		if err != nil {
			return Array{}, err
		}
		if base, err = m.prepareImage(img, false); err != nil {
			return Array{}, err
		}
	}
	if l.Edges {
		switch {
		case inst != nil:
			im, err := data.DecodeIDMap(inst, instPath, "instance map", "instance maps hold integer ids in one channel")
			if err != nil {
				return Array{}, err
			}
			if im, err = m.resizeIDs(im); err != nil {
				return Array{}, err
			}
			if im.W != base.W || im.H != base.H {
				return Array{}, fmt.Errorf("%s is %dx%d, its input %s %dx%d: an instance map has its label map's size", instPath, im.W, im.H, path, base.W, base.H)
			}
			ids = im
		case ids == nil:
			return Array{}, fmt.Errorf("%s: this model also takes the image's instance map (trained without --no_instance): give it (translate --inst)", path)
		}
		base = appendChannel(base, models.Edges(ids.Float, ids.W, ids.H))
	}
	if l.FeatNum > 0 {
		// Each instance (or, without an instance map, each class region)
		// gets a cluster centre of its label's features.
		if ids == nil {
			return Array{}, fmt.Errorf("%s: this model's instance features need the instance map (translate --inst)", path)
		}
		f := models.SampleFeatures(ids.Float, base.H, base.W, l.FeatNum, l.Clusters)
		base = Array{C: base.C + l.FeatNum, H: base.H, W: base.W, Data: append(append([]float32(nil), base.Data...), f...)}
	}
	return base, nil
}

// resizeIDs applies the test-time preprocessing to an id map with NEAREST
// resampling (ids never blend), crops centred.
func (m *Model) resizeIDs(img *data.Image) (*data.Image, error) {
	o := m.Preprocess
	if o == nil || o.Preprocess == "none" {
		return img, nil
	}
	mode := o.Preprocess
	switch {
	case strings.HasPrefix(mode, "resize"):
		img = img.ResizeNearest(o.LoadSize, o.LoadSize)
	case strings.HasPrefix(mode, "scale_width"):
		if img.W != o.LoadSize {
			img = img.ResizeNearest(o.LoadSize, int(float64(o.LoadSize)*float64(img.H)/float64(img.W)))
		}
	}
	if strings.Contains(mode, "crop") {
		cs := o.CropSize
		if img.W < cs || img.H < cs {
			return nil, fmt.Errorf("--crop_size %d is larger than the label map (%dx%d after --preprocess %s)", cs, img.W, img.H, mode)
		}
		img = img.Crop((img.W-cs)/2, (img.H-cs)/2, cs, cs)
	}
	return img, nil
}

// oneHot turns an id map (ids in Float) into n channels.
func oneHot(ids *data.Image, n int) Array {
	hw := ids.W * ids.H
	out := make([]float32, n*hw)
	for i, v := range ids.Float {
		out[int(v)*hw+i] = 1
	}
	return Array{C: n, H: ids.H, W: ids.W, Data: out}
}

func appendChannel(a Array, ch []float32) Array {
	data := make([]float32, 0, len(a.Data)+len(ch))
	data = append(append(data, a.Data...), ch...)
	return Array{C: a.C + 1, H: a.H, W: a.W, Data: data}
}
