package cli

import "strings"

// resumeHint is the command that continues a training run stopped with
// Ctrl-C: its own arguments, with --continue_train unless continuing (the
// run already has it), less those that would resume from another label
// than the `latest` the stop saved (--epoch, --load_iter: a run resumed
// with --epoch best would go back to best) or restart the epoch count
// (--epoch_count).
func resumeHint(args []string, continuing bool) string {
	drop := map[string]bool{"epoch": true, "load_iter": true, "epoch_count": true}
	out := []string{"cyclepix", "train"}
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && drop[name] {
			if !hasValue {
				i++ // the value is the next argument
			}
			continue
		}
		out = append(out, args[i])
	}
	if !continuing {
		out = append(out, "--continue_train")
	}
	return strings.Join(out, " ")
}
