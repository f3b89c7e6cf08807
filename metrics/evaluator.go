package metrics

import (
	"fmt"
	"math"
	"strings"

	"cyclepix/data"
	"cyclepix/torch"
)

// Report is the outcome of an evaluation. Unpaired fields are nil when no
// Inception network was given.
type Report struct {
	Paired *Scores // nil when the sets were not paired
	FID    *float64
	KID    *KIDResult
	NReal  int
	NFake  int
}

// Values returns the report as name → value for logs, plots and JSON
// ("l1", "psnr", "ssim", "fid", "kid", "kid_std"); metrics not computed,
// and an infinite PSNR, are left out.
func (r *Report) Values() map[string]float64 {
	v := map[string]float64{}
	if p := r.Paired; p != nil {
		v["l1"], v["ssim"] = p.L1, p.SSIM
		if !math.IsInf(p.PSNR, 0) {
			v["psnr"] = p.PSNR
		}
	}
	if r.FID != nil {
		v["fid"] = *r.FID
	}
	if r.KID != nil {
		v["kid"], v["kid_std"] = r.KID.Mean, r.KID.Std
	}
	return v
}

// LowerIsBetter reports whether smaller values of the named metric are
// better (l1, fid, kid) or larger ones (psnr, ssim), for a plateau
// scheduler, which wants a quantity to minimise: feed it v, or −v when
// this is false.
func LowerIsBetter(name string) bool {
	// Per-channel values ("psnr[c0]") go the way their metric does.
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	switch name {
	case "psnr", "ssim", "pearson":
		return false
	}
	return true
}

// Evaluator computes the metrics of a held-out set repeatedly (every
// --eval_freq epochs), keeping the Inception network loaded in between.
type Evaluator struct {
	inception *Inception
	feat      FeatureOptions
	kid       KIDOptions
}

// EvaluatorOptions configure NewEvaluator.
type EvaluatorOptions struct {
	// InceptionPath is pytorch-fid's weights file; empty: paired metrics
	// only.
	InceptionPath string
	// Device runs the network: "" or "cpu", "cuda", "cuda:N"
	// (torch.Device.String's form).
	Device string
	Batch  int        // Inception batch size (default 16)
	KID    KIDOptions // zero: 100 subsets of up to 1000
}

// NewEvaluator loads the Inception weights (when a path is given) onto the
// device.
func NewEvaluator(o EvaluatorOptions) (*Evaluator, error) {
	e := &Evaluator{feat: FeatureOptions{Batch: o.Batch, Device: o.Device}, kid: o.KID}
	if o.InceptionPath != "" {
		m, err := LoadInception(o.InceptionPath)
		if err != nil {
			return nil, err
		}
		if o.Device != "" && o.Device != "cpu" {
			dev, err := torch.ParseDevice(o.Device)
			if err != nil {
				m.Free()
				return nil, err
			}
			if err := m.To(dev); err != nil {
				m.Free()
				return nil, fmt.Errorf("move inception to %v: %w", dev, err)
			}
		}
		e.inception = m
	}
	return e, nil
}

// HasInception reports whether FID and KID will be computed.
func (e *Evaluator) HasInception() bool { return e.inception != nil }

// Close frees the Inception network.
func (e *Evaluator) Close() {
	if e.inception != nil {
		e.inception.Free()
		e.inception = nil
	}
}

// Evaluate computes the paired metrics of real[i] ↔ fake[i] when paired is
// set (the sets must then have the same length), and FID and KID between
// the two sets when the evaluator has the Inception network.
func (e *Evaluator) Evaluate(real, fake []*data.Image, paired bool) (*Report, error) {
	r := &Report{NReal: len(real), NFake: len(fake)}
	if paired {
		s, err := Paired(real, fake)
		if err != nil {
			return nil, err
		}
		r.Paired = &s
	}
	if e.inception == nil {
		return r, nil
	}
	fr, err := e.Features(real, nil)
	if err != nil {
		return nil, fmt.Errorf("real images: %w", err)
	}
	ff, err := e.Features(fake, nil)
	if err != nil {
		return nil, fmt.Errorf("fake images: %w", err)
	}
	if err := e.Unpaired(r, fr, ff); err != nil {
		return nil, err
	}
	return r, nil
}

// Features returns the Inception features of imgs; progress, when not nil,
// is called after each batch with the number of images done.
func (e *Evaluator) Features(imgs []*data.Image, progress func(done int)) (*Features, error) {
	if e.inception == nil {
		return nil, fmt.Errorf("no Inception network loaded (EvaluatorOptions.InceptionPath)")
	}
	o := e.feat
	o.Progress = progress
	return e.inception.Features(imgs, o)
}

// Unpaired sets r's FID and KID from the features of both sets.
func (e *Evaluator) Unpaired(r *Report, fr, ff *Features) error {
	fid, err := FID(fr, ff)
	if err != nil {
		return err
	}
	kid, err := KID(fr, ff, e.kid)
	if err != nil {
		return err
	}
	r.FID, r.KID = &fid, &kid
	return nil
}

// EvaluateCHW is Evaluate on generator tensors: CHW float32 arrays in
// [-1, 1] of c×h×w, quantised to 8 bits as cyclepix saves images (see
// ImagesFromCHW).
func (e *Evaluator) EvaluateCHW(real, fake [][]float32, c, h, w int, paired bool) (*Report, error) {
	ri, err := ImagesFromCHW(real, c, h, w)
	if err != nil {
		return nil, fmt.Errorf("real: %w", err)
	}
	fi, err := ImagesFromCHW(fake, c, h, w)
	if err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	return e.Evaluate(ri, fi, paired)
}
