package models

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// --CUT_mode chooses the defaults CUT's modify_commandline_options sets,
// the command line still overrides them, and --help says whose they are.
func TestCUTModeDefaults(t *testing.T) {
	cases := []struct {
		args []string
		want map[string]any
		err  string
	}{
		{nil, map[string]any{"nce_idt": true, "lambda_NCE": 1.0, "flip_equivariance": false, "n_epochs": 200, "n_epochs_decay": 200,
			"pool_size": 0, "init_type": "xavier", "no_dropout": true, "normG": "instance", "beta2": 0.999, "gan_mode": "lsgan"}, ""},
		{[]string{"--CUT_mode", "FastCUT"}, map[string]any{"nce_idt": false, "lambda_NCE": 10.0, "flip_equivariance": true,
			"n_epochs": 150, "n_epochs_decay": 50}, ""},
		{[]string{"--CUT_mode=fastcut", "--nce_idt", "True", "--n_epochs", "3"}, map[string]any{"nce_idt": true, "lambda_NCE": 10.0, "n_epochs": 3}, ""},
		{[]string{"--CUT_mode", "cut", "--flip_equivariance"}, map[string]any{"nce_idt": true, "flip_equivariance": true}, ""},
	}
	for _, c := range cases {
		o, err := BuildOptions(true, append([]string{"--model", "cut"}, c.args...), io.Discard)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		for k, v := range c.want {
			if got := o.Map()[k]; fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%v: --%s %v, want %v", c.args, k, got, v)
			}
		}
	}
	var help bytes.Buffer
	if _, err := BuildOptions(true, []string{"--model", "cut", "--help"}, &help); err == nil {
		t.Fatal("--help gave no ErrHelp")
	}
	for _, want := range []string{"--CUT_mode STRING", "--init_type STRING", "default with --model cut: xavier; otherwise normal", "--nce_layers STRING"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// Bad CUT settings are one-line errors naming the option.
func TestCUTBadSettings(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"--CUT_mode", "SlowCUT"}, `--CUT_mode "SlowCUT": want CUT or FastCUT`},
		{[]string{"--lambda_GAN", "0", "--lambda_NCE", "0"}, "nothing to learn from"},
		{[]string{"--netG", "unet_256"}, "has no encode_only"},
		{[]string{"--nce_layers", "0,99"}, "--nce_layers 99"},
		{[]string{"--netF", "reshape"}, `--netF "reshape"`},
		{[]string{"--output_nc", "1"}, "--nce_idt needs --input_nc == --output_nc"},
		{[]string{"--input_nc", "4", "--nce_idt", "false"}, "PatchNCE runs the generator's encoder on its own output"},
	}
	for _, c := range cases {
		o, err := BuildOptions(true, append([]string{"--model", "cut", "--ngf", "4", "--ndf", "4"}, c.args...), io.Discard)
		if err == nil {
			_, err = newCUT(o, Env{})
		}
		if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", c.args, err, c.err)
		}
	}
}
