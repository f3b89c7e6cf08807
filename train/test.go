package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"

	"cyclepix/data"
	"cyclepix/data/raster"
	"cyclepix/models"
	"cyclepix/options"
	"cyclepix/torch"
	"cyclepix/viz"
)

// Test is test.py: it loads the model's networks, translates --num_test
// images and writes <results_dir>/<name>/<phase>_<epoch>/index.html with
// images/<stem>_<visual>.png. Unlike the reference it honours --batch_size
// and --num_threads, and --num_test accepts "all".
func Test(o *options.Set, out io.Writer) error {
	dev, err := models.Device(o)
	if err != nil {
		return err
	}
	numTest, err := parseNumTest(o.String("num_test"))
	if err != nil {
		return err
	}
	dopt, err := models.DataOptions(o)
	if err != nil {
		return err
	}
	if err := singleSideRange(o, &dopt); err != nil {
		return err
	}
	seed := Seed(o)
	torch.ManualSeed(seed)
	m, err := newModel(o, dev, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return err
	}
	b := m.Base()
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	label := models.LoadLabel(o)
	if err := b.LoadNetworks(dir, label); err != nil {
		return err
	}
	if err := o.Save(dir, "test"); err != nil {
		return err
	}
	// The reference leaves networks in train mode unless --eval (batch
	// norm then uses batch statistics, dropout stays on); same here.
	b.SetTraining(!o.Bool("eval"))
	loader, err := data.Create(dopt, seed)
	if err != nil {
		return err
	}
	webDir := filepath.Join(o.String("results_dir"), o.String("name"), fmt.Sprintf("%s_%s", o.String("phase"), o.String("epoch")))
	if it := o.Int("load_iter"); it > 0 {
		webDir += fmt.Sprintf("_iter%d", it)
	}
	page, err := viz.NewPage(webDir, fmt.Sprintf("Experiment = %s, Phase = %s, Epoch = %s", o.String("name"), o.String("phase"), o.String("epoch")), 0)
	if err != nil {
		return err
	}
	outs, err := newDomainOutputs(o)
	if err != nil {
		return err
	}
	ep := loader.Epoch(context.Background(), 0)
	defer ep.Close()
	done := 0
	for done < numTest {
		batch, err := ep.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		err = torch.TryErr(func() error {
			defer torch.NewScope().Close()
			if err := m.SetInput(BatchInput(batch, dev)); err != nil {
				return err
			}
			models.Test(m)
			models.ComputeVisuals(m)
			paths := b.ImagePaths()
			for i := 0; i < batch.Size && done < numTest; i++ {
				if done%5 == 0 {
					fmt.Fprintf(out, "processing (%04d)-th image... [%s]\n", done, paths[i])
				}
				if err := saveResult(page, b.Visuals(), paths[i], int64(i), o, outs); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := page.Save(); err != nil {
		return err
	}
	if len(outs.notes) > 0 {
		b, err := json.MarshalIndent(outs.notes, "", "  ")
		if err != nil {
			return err
		}
		if err := options.WriteFileAtomic(filepath.Join(webDir, viz.PreviewNotesFile), append(b, '\n')); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %d results to %s\n", done, filepath.Join(webDir, "index.html"))
	return nil
}

// singleSideRange gives the single mode's images (the only side it reads,
// "A") the range of the domain they are: the input of the generator the
// model runs, which for G_B of a CycleGAN (--model test --model_suffix _B)
// is the run's B domain.
func singleSideRange(o *options.Set, dopt *data.Options) error {
	if dopt.DatasetMode != "single" {
		return nil
	}
	def, err := models.Lookup(o.String("model"))
	if err != nil || def.Generators == nil {
		return err
	}
	gens, err := def.Generators(o)
	if err != nil || len(gens) == 0 {
		return err
	}
	if gens[0].Direction == "BtoA" {
		dopt.RangeA = o.String("range_B")
	}
	return nil
}

func parseNumTest(s string) (int, error) {
	if s == "all" || s == "inf" {
		return int(^uint(0) >> 1), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--num_test %q: want a number or all", s)
	}
	return n, nil
}

// saveResult is save_images: one row on the page for one image of the
// batch. A visual of a domain read as the reference reads images is
// <stem>_<visual>.png, stretched by --aspect_ratio, as the reference
// writes it; a visual on the data's own scale is written back through its
// domain's range as <stem>_<visual>.tif/.npy/.png (--output_format, or
// the domain's training files' kind), with an 8-bit preview of
// --preview_channels for the page.
func saveResult(page *viz.Page, visuals []models.NamedTensor, path string, index int64, o *options.Set, outs *domainOutputs) error {
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	page.Header(stem)
	var files, caps []string
	for _, v := range visuals {
		img := v.Tensor.Select(0, index)
		s := img.Shape()
		c, h, w := int(s[0]), int(s[1]), int(s[2])
		chw := img.Float32s()
		out, err := outs.of(v.Name, c)
		if err != nil {
			return err
		}
		caption := v.Name
		var im *data.Image
		if out.Reference {
			if im, err = data.ImageFromCHW(chw, c, h, w); err != nil {
				return err
			}
		} else {
			written, err := out.Write(filepath.Join(page.ImageDir(), stem+"_"+v.Name), chw, c, h, w)
			if err != nil {
				return err
			}
			ch, err := data.PreviewChannels(o.String("preview_channels"), c)
			if err != nil {
				return err
			}
			if im, err = data.Preview(chw, c, h, w, ch); err != nil {
				return err
			}
			caption = fmt.Sprintf("%s (%s", v.Name, filepath.Base(written))
			if l := data.PreviewLabel(ch, c); l != "" {
				caption += "; preview: " + l
				outs.notes[v.Name] = l
			}
			caption += ")"
		}
		if ar := o.Float("aspect_ratio"); ar != 1 {
			w, h := im.W, im.H
			if ar > 1 {
				w = int(float64(w) * ar)
			} else {
				h = int(float64(h) / ar)
			}
			im = im.Resize(w, h)
		}
		name := fmt.Sprintf("%s_%s.png", stem, v.Name)
		if !out.Reference && out.Format == raster.PNG {
			name = fmt.Sprintf("%s_%s_preview.png", stem, v.Name)
		}
		if err := data.SaveImage(filepath.Join(page.ImageDir(), name), im); err != nil {
			return err
		}
		files, caps = append(files, name), append(caps, caption)
	}
	page.Images(files, caps, o.Int("display_winsize"))
	return nil
}

// domainOutputs works out, once per visual, how its images are written:
// on the scale of the dataset side the model's registry gives it, or as
// the reference's 8-bit pictures.
type domainOutputs struct {
	o     *options.Set
	sides map[string]string
	cache map[string]data.Output
	// notes says which channels each visual's previews show, for
	// previews.json (eval --quality --side_by_side reads it).
	notes map[string]string
}

func newDomainOutputs(o *options.Set) (*domainOutputs, error) {
	sides, err := models.VisualSides(o)
	if err != nil {
		return nil, err
	}
	return &domainOutputs{o: o, sides: sides, cache: map[string]data.Output{}, notes: map[string]string{}}, nil
}

func (d *domainOutputs) of(visual string, c int) (data.Output, error) {
	key := fmt.Sprintf("%s/%d", visual, c)
	if out, ok := d.cache[key]; ok {
		return out, nil
	}
	side := d.sides[visual]
	var out data.Output
	if side == "" {
		out = data.Output{Reference: true, Format: raster.PNG, DType: raster.Uint8}
	} else {
		var err error
		format := ""
		if d.o.Has("output_format") {
			format = d.o.String("output_format")
		}
		out, err = data.DomainOutput("range_"+side, d.o.String("range_"+side), d.o.String("format_"+side), format, c)
		if err != nil {
			return out, fmt.Errorf("%s images: %w", visual, err)
		}
	}
	d.cache[key] = out
	return out, nil
}
