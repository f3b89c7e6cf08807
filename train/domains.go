package train

import (
	"context"
	"fmt"
	"io"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/options"
)

// surveySides learns, before training, what each dataset side's files are
// (their kind and sample type, which outputs take by default) and resolves
// ranges declared in percentiles over the training split, so that the
// run's options record the numbers test, translate, serve and eval use.
// It returns the data options with those ranges.
func surveySides(ctx context.Context, o *options.Set, dopt data.Options, progress io.Writer) (data.Options, error) {
	ds, err := data.New(dopt.DatasetMode, dopt)
	if err != nil {
		return dopt, err
	}
	sides, err := data.SurveySides(ctx, ds, &dopt, progress)
	if err != nil {
		return dopt, err
	}
	for _, s := range sides {
		name := "range_" + s.Side.Name
		if r := s.Range.String(); r != o.String(name) {
			fmt.Fprintf(progress, "--%s %s over the training split: %s (recorded in the run's options)\n", name, o.String(name), r)
			o.Set(name, r)
		}
		if f := "format_" + s.Side.Name; !o.Given(f) {
			o.Set(f, s.Format)
		}
	}
	return models.DataOptions(o)
}
