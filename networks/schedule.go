package networks

import (
	"fmt"
	"math"
)

// SchedulerOptions are the options get_scheduler reads.
type SchedulerOptions struct {
	Policy       string // linear, step, plateau, cosine, pix2pixhd
	LR           float64
	EpochCount   int
	NEpochs      int
	NEpochsDecay int
	LRDecayIters int
}

// Scheduler reproduces the reference's learning-rate policies (PyTorch 1.13
// LambdaLR, StepLR, ReduceLROnPlateau, CosineAnnealingLR) stepped once per
// epoch. Its fields are its whole state, so a checkpoint can restore it.
type Scheduler struct {
	Opt       SchedulerOptions
	LastEpoch int     // number of Step calls so far
	LR        float64 // current learning rate
	// ReduceLROnPlateau state.
	Best         float64
	NumBadEpochs int
}

// NewScheduler is get_scheduler; LR is the learning rate for the first epoch.
func NewScheduler(o SchedulerOptions) (*Scheduler, error) {
	s := &Scheduler{Opt: o, LR: o.LR, Best: math.Inf(1)}
	switch o.Policy {
	case "linear":
		s.LR = o.LR * s.linear(0)
	case "step":
		if o.LRDecayIters < 1 {
			return nil, fmt.Errorf("--lr_decay_iters %d: want ≥ 1 with --lr_policy step", o.LRDecayIters)
		}
	case "cosine":
		if o.NEpochs < 1 {
			return nil, fmt.Errorf("--n_epochs %d: want ≥ 1 with --lr_policy cosine", o.NEpochs)
		}
	case "pix2pixhd":
		if o.NEpochsDecay < 0 {
			return nil, fmt.Errorf("--n_epochs_decay (--niter_decay) %d: want ≥ 0 with --lr_policy pix2pixhd", o.NEpochsDecay)
		}
		// A run that starts later (--epoch_count) starts where the rule
		// has brought the rate by then.
		for e := 1; e < o.EpochCount; e++ {
			s.hdStep(e)
		}
	case "plateau":
	default:
		return nil, fmt.Errorf("--lr_policy %q: want linear, step, plateau, cosine or pix2pixhd", o.Policy)
	}
	return s, nil
}

func (s *Scheduler) linear(epoch int) float64 {
	return 1 - math.Max(0, float64(epoch+s.Opt.EpochCount-s.Opt.NEpochs))/float64(s.Opt.NEpochsDecay+1)
}

// Step advances one epoch; metric feeds the plateau policy (lower is
// better) and is ignored by the others. It returns the new learning rate.
func (s *Scheduler) Step(metric float64) float64 {
	s.LastEpoch++
	k := s.LastEpoch
	switch s.Opt.Policy {
	case "linear":
		s.LR = s.Opt.LR * s.linear(k)
	case "step":
		if k%s.Opt.LRDecayIters == 0 {
			s.LR *= 0.1
		}
	case "cosine":
		s.LR = s.cosine(k)
	case "pix2pixhd":
		s.hdStep(s.Opt.EpochCount - 1 + k)
	case "plateau":
		// ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01 rel,
		// patience 5, cooldown 0, min_lr 0, eps 1e-8).
		if metric < s.Best*(1-0.01) {
			s.Best = metric
			s.NumBadEpochs = 0
		} else {
			s.NumBadEpochs++
		}
		if s.NumBadEpochs > 5 {
			if n := s.LR * 0.2; s.LR-n > 1e-8 {
				s.LR = n
			}
			s.NumBadEpochs = 0
		}
	}
	return s.LR
}

// hdStep is pix2pixHD's update_learning_rate at the end of epoch (1-based):
// after the first n_epochs (--niter) epochs, lr −= lr₀/n_epochs_decay,
// repeated float subtraction (the closed form differs in the last bits, and
// ends at 1.4e-20 rather than 0).
func (s *Scheduler) hdStep(epoch int) {
	// Without decay epochs the rate never decays (pix2pixHD would divide
	// by zero only past the last epoch).
	if epoch > s.Opt.NEpochs && s.Opt.NEpochsDecay > 0 {
		s.LR -= s.Opt.LR / float64(s.Opt.NEpochsDecay)
	}
}

// cosine follows CosineAnnealingLR.get_lr's recursive form (eta_min 0),
// which is what PyTorch computes, rather than the closed form.
func (s *Scheduler) cosine(k int) float64 {
	t := float64(s.Opt.NEpochs)
	base := s.Opt.LR
	tm := s.Opt.NEpochs
	if mod(k-1-tm, 2*tm) == 0 {
		return s.LR + base*(1-math.Cos(math.Pi/t))/2
	}
	return (1 + math.Cos(math.Pi*float64(k)/t)) / (1 + math.Cos(math.Pi*float64(k-1)/t)) * s.LR
}

// mod is Python's %, never negative for a positive divisor.
func mod(a, b int) int { return ((a % b) + b) % b }
