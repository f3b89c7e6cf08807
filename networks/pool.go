package networks

import (
	"math/rand/v2"

	"cyclepix/torch"
)

// ImagePool is the reference's history of generated images (Shrivastava et
// al.): until full it returns its inputs; afterwards each image is, with
// probability ½, swapped for a random stored one (which it replaces).
type ImagePool struct {
	Size   int
	Images []*torch.Tensor // persistent [1,C,H,W] copies
	rng    *rand.Rand
}

// NewImagePool makes a pool of the given size (0 disables it) drawing its
// choices from rng.
func NewImagePool(size int, rng *rand.Rand) *ImagePool { return &ImagePool{Size: size, rng: rng} }

// Query returns the batch the discriminator should see, detached from the
// generator's graph.
func (p *ImagePool) Query(images *torch.Tensor) *torch.Tensor {
	if p.Size == 0 {
		return images
	}
	n := images.Size(0)
	out := make([]*torch.Tensor, 0, n)
	for i := int64(0); i < n; i++ {
		img := images.Detach().Narrow(0, i, 1)
		if len(p.Images) < p.Size {
			p.Images = append(p.Images, img.Clone().Persist())
			out = append(out, img)
			continue
		}
		if p.rng.Float64() > 0.5 {
			j := p.rng.IntN(p.Size)
			out = append(out, p.Images[j].Clone())
			p.Images[j].Copy_(img)
		} else {
			out = append(out, img)
		}
	}
	return torch.Cat(0, out...)
}

// Free releases the stored images.
func (p *ImagePool) Free() {
	for _, t := range p.Images {
		t.Free()
	}
	p.Images = nil
}
