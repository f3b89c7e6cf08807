package options

import "testing"

func TestScanValue(t *testing.T) {
	cases := []struct {
		args  []string
		value string
		found bool
	}{
		{[]string{"--model", "pix2pix"}, "pix2pix", true},
		{[]string{"--model=cut", "--name", "x"}, "cut", true},
		{[]string{"-model", "test"}, "test", true},
		// The last one wins, as in the full parse and argparse.
		{[]string{"--model=cycle_gan", "--dataroot", "d", "--model", "pix2pix"}, "pix2pix", true},
		{[]string{"--model", "pix2pix", "--model=cut"}, "cut", true},
		{[]string{"--models", "x", "model", "y"}, "", false},
		{[]string{"--model"}, "", false},
	}
	for _, c := range cases {
		v, ok := ScanValue(c.args, "model")
		if v != c.value || ok != c.found {
			t.Errorf("ScanValue(%q) = %q, %v; want %q, %v", c.args, v, ok, c.value, c.found)
		}
	}
}
