package cli

import "testing"

func TestResumeHint(t *testing.T) {
	cases := []struct {
		args       []string
		continuing bool
		want       string
	}{
		{[]string{"--name", "x"}, false, "cyclepix train --name x --continue_train"},
		{[]string{"--name", "x", "--continue_train"}, true, "cyclepix train --name x --continue_train"},
		{[]string{"--name", "x", "--continue_train", "--epoch", "best"}, true, "cyclepix train --name x --continue_train"},
		{[]string{"--epoch=5", "--name", "x", "-continue_train=true"}, true, "cyclepix train --name x -continue_train=true"},
		{[]string{"--load_iter", "400", "--epoch_count", "3", "--n_epochs", "9"}, false, "cyclepix train --n_epochs 9 --continue_train"},
		{[]string{"--name", "epoch"}, false, "cyclepix train --name epoch --continue_train"},
	}
	for _, c := range cases {
		if got := resumeHint(c.args, c.continuing); got != c.want {
			t.Errorf("resumeHint(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
