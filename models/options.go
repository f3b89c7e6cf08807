package models

import (
	"io"

	"cyclepix/options"
)

// Hook adds options that depend on the command line (a dataset mode's).
type Hook func(s *options.Set, args []string) error

// BuildOptions assembles and parses the options of a train (isTrain) or
// test run: base options, train or test options, the chosen model's options
// and defaults, then hooks (dataset modes). Unlike the reference, --help
// lists the model's options too. Help goes to w.
func BuildOptions(isTrain bool, args []string, w io.Writer, hooks ...Hook) (*options.Set, error) {
	s := options.NewSet(isTrain)
	s.Add("base", options.Base()...)
	cmd := "test"
	if isTrain {
		cmd = "train"
		s.Add("train", options.Train()...)
	} else {
		s.Add("test", options.Test()...)
		s.SetDefault("model", "test")
	}
	model := s.String("model")
	if v, ok := options.ScanValue(args, "model"); ok {
		model = v
	}
	def, err := Lookup(model)
	if err != nil {
		return nil, err
	}
	def.ModifyOptions(s, isTrain)
	for _, h := range hooks {
		if err := h(s, args); err != nil {
			return nil, err
		}
	}
	if err := s.Parse(cmd, args, w); err != nil {
		return nil, err
	}
	return s, nil
}
