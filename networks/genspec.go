package networks

import (
	"fmt"
	"strings"

	"cyclepix/nn"
)

// GenSpec is what it takes to rebuild a generator from a checkpoint: the
// serialisable form of define_G's options (and of CUT's define_G). A
// model's registry entry declares each of its generators with one, so
// that test, translate, serve and export rebuild exactly the network
// training built; bundles store it as JSON.
type GenSpec struct {
	NetG     string `json:"netG"`
	NGF      int    `json:"ngf"`
	Norm     string `json:"norm"`
	InputNC  int    `json:"input_nc"`
	OutputNC int    `json:"output_nc"`
	// Dropout is the reference's use_dropout (not --no_dropout). It adds
	// no weights but shifts layer indices in ResNet blocks; in eval mode
	// it does nothing.
	Dropout bool `json:"dropout"`
	// Family is "" for the reference's define_G and FamilyCUT for CUT's
	// anti-aliased ResnetGenerator, whose downsampling and upsampling
	// NoAntialias and NoAntialiasUp switch back to plain strided convs.
	Family        string `json:"family,omitempty"`
	NoAntialias   bool   `json:"no_antialias,omitempty"`
	NoAntialiasUp bool   `json:"no_antialias_up,omitempty"`
	// pix2pixHD's generator options (Family FamilyHD, NetG global or
	// local).
	NDownsampleGlobal int `json:"n_downsample_global,omitempty"`
	NBlocksGlobal     int `json:"n_blocks_global,omitempty"`
	NLocalEnhancers   int `json:"n_local_enhancers,omitempty"`
	NBlocksLocal      int `json:"n_blocks_local,omitempty"`
}

// FamilyCUT marks CUT's generators in GenSpec.Family.
const FamilyCUT = "cut"

// FamilyHD marks pix2pixHD's generators in GenSpec.Family.
const FamilyHD = "pix2pixhd"

// New builds the generator with weights initialised by initType and gain
// (normal, xavier, kaiming or orthogonal), in training mode.
func (s GenSpec) New(initType string, gain float64) (nn.Module, error) {
	norm, err := ParseNorm(s.Norm)
	if err != nil {
		return nil, err
	}
	if s.InputNC < 1 || s.OutputNC < 1 || s.NGF < 1 {
		return nil, fmt.Errorf("generator with input_nc %d, output_nc %d, ngf %d: each must be at least 1", s.InputNC, s.OutputNC, s.NGF)
	}
	g := GOptions{InputNC: int64(s.InputNC), OutputNC: int64(s.OutputNC), NGF: int64(s.NGF), NetG: s.NetG,
		Norm: norm, Dropout: s.Dropout, InitType: initType, InitGain: gain}
	switch s.Family {
	case "":
		return NewGenerator(g)
	case FamilyCUT:
		return NewCUTGenerator(CUTGOptions{GOptions: g, NoAntialias: s.NoAntialias, NoAntialiasUp: s.NoAntialiasUp})
	case FamilyHD:
		// pix2pixHD initialises its own way (InitHD); initType does not apply.
		return NewHDGenerator(HDOptions{InputNC: int64(s.InputNC), OutputNC: int64(s.OutputNC), NGF: int64(s.NGF), NetG: s.NetG,
			NDownsampleGlobal: s.NDownsampleGlobal, NBlocksGlobal: s.NBlocksGlobal, NLocalEnhancers: s.NLocalEnhancers,
			NBlocksLocal: s.NBlocksLocal, Norm: norm})
	}
	return nil, fmt.Errorf("generator family %q: want %q (the reference's), %q or %q", s.Family, "", FamilyCUT, FamilyHD)
}

// Build makes the generator to load a checkpoint into, in eval mode (its
// initial weights are overwritten).
func (s GenSpec) Build() (nn.Module, error) {
	g, err := s.New("normal", 0.02)
	if err != nil {
		return nil, err
	}
	nn.SetTraining(g, false)
	return g, nil
}

// Resnet reports whether the generator is a ResNet (whose residual blocks
// may hold a dropout layer that shifts their second convolution's index).
func (s GenSpec) Resnet() bool { return s.Family != FamilyHD && strings.HasPrefix(s.NetG, "resnet_") }

// SizeMultiple is what image height and width must be multiples of for
// the output to have the input's size: 4 for ResNet generators (two
// stride-2 levels), 2^levels for U-Nets (whose skip concatenations fail
// otherwise).
func (s GenSpec) SizeMultiple() int {
	if s.Family == FamilyHD {
		return HDSizeMultiple(s.NetG, s.NDownsampleGlobal, s.NLocalEnhancers)
	}
	return SizeMultiple(s.NetG)
}

// MinSize is the smallest side the generator runs on: for ResNets two
// stride-2 levels bring 8 to 2, the least the residual blocks' 1-pixel
// reflection padding accepts; a U-Net needs one pixel at its bottom.
func (s GenSpec) MinSize() int {
	if s.Family == FamilyHD {
		// Reflection padding of 1 in the residual blocks needs 2 pixels
		// at the coarsest level.
		return 2 * s.SizeMultiple()
	}
	if s.Resnet() {
		return 8
	}
	return s.SizeMultiple()
}

// Load builds the generator and loads the checkpoint at path into it, in
// eval mode. A ResNet block's dropout layer shifts the index of its second
// convolution (conv_block.5 or .6), so a checkpoint says whether it was
// trained with dropout: Load takes its word rather than fail on a missing
// --no_dropout, the reference's most common loading error. It returns the
// spec that fits.
func (s GenSpec) Load(path string) (nn.Module, GenSpec, error) {
	g, err := s.Build()
	if err != nil {
		return nil, s, err
	}
	err = nn.LoadFile(g, path)
	if err == nil || !s.Resnet() {
		return g, s, err
	}
	alt := s
	alt.Dropout = !alt.Dropout
	if g2, err2 := alt.Build(); err2 == nil && nn.LoadFile(g2, path) == nil {
		return g2, alt, nil
	}
	return nil, s, err
}
