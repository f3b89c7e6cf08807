package train

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/options"
)

// Preflight checks what a train or test run is about to read before it
// builds (and prints) any network, so that a wrong --dataroot is the first
// and only thing the user sees: the dataset must pass data.Check (one-line
// errors). Options that are legal but unusual for this model and data are
// logged to log as warnings, one line each: a paired model on unpaired
// folders, a --crop_size larger than most images, a --batch_size larger
// than the dataset.
func Preflight(o *options.Set, log *slog.Logger) error {
	dopt, err := models.DataOptions(o)
	if err != nil {
		return err
	}
	survey, err := data.Check(dopt)
	if err != nil {
		return err
	}
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		return err
	}
	model := o.String("model")
	if def.Eval != nil && def.Eval.Paired && looksUnaligned(dopt.Dataroot, dopt.Phase) {
		p := dopt.Phase
		log.Warn(fmt.Sprintf("--model %s learns from paired images, but --dataroot %s looks unaligned (%sA and %sB, no %s/): each A is paired with an unrelated B; pair them with 'cyclepix data combine' and --dataset_mode aligned, or train an unpaired model (--model cycle_gan)",
			model, dopt.Dataroot, p, p, p))
	}
	if strings.Contains(dopt.Preprocess, "crop") {
		warnCrop(o, dopt, survey, log)
	}
	if o.IsTrain && o.Has("nproc") {
		batch := o.Int("batch_size") * max(o.Int("nproc"), 1)
		if batch > survey.Len {
			log.Warn(fmt.Sprintf("--batch_size %d is more than the %d images of --dataroot %s: every epoch is one batch of %d; a smaller --batch_size takes more steps per epoch",
				batch, survey.Len, dopt.Dataroot, survey.Len))
		}
	}
	return nil
}

// looksUnaligned reports whether dataroot has CycleGAN's layout for phase
// (<phase>A and <phase>B) and not pix2pix's (<phase>).
func looksUnaligned(dataroot, phase string) bool {
	isDir := func(name string) bool {
		st, err := os.Stat(filepath.Join(dataroot, name))
		return err == nil && st.IsDir()
	}
	return isDir(phase+"A") && isDir(phase+"B") && !isDir(phase)
}

// warnCrop warns when --crop_size is larger than most of the surveyed
// images after the resize step: unaligned and single data then fail at the
// first such image, aligned data is filled with black past the border.
func warnCrop(o *options.Set, dopt data.Options, survey *data.Survey, log *slog.Logger) {
	crop := dopt.CropSize
	for _, f := range survey.Folders {
		small, smallest := 0, data.Size{}
		for _, s := range f.Sizes {
			if s.W < crop || s.H < crop {
				small++
			}
			if smallest.W == 0 || min(s.W, s.H) < min(smallest.W, smallest.H) {
				smallest = s
			}
		}
		if small*2 <= len(f.Sizes) {
			continue
		}
		fit := min(smallest.W, smallest.H)
		if m := networks.SizeMultiple(o.String("netG")); fit >= m {
			fit = fit / m * m // what checkImageSize accepts for this generator
		}
		name := f.Dir
		if name == "" {
			name = "--dataroot"
		}
		log.Warn(fmt.Sprintf("--crop_size %d is larger than %d of the first %d images of %s after --preprocess %s (the smallest is %s): use --crop_size %d, or resize first with --preprocess resize_and_crop --load_size %d",
			crop, small, len(f.Sizes), name, dopt.Preprocess, smallest, fit, max(dopt.LoadSize, crop)))
	}
}
