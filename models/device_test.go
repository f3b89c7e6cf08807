package models

import (
	"io"
	"strings"
	"testing"

	"cyclepix/torch"
)

// TestDevice checks --device, the reference's --gpu_ids and --precision
// fp16's need for a CUDA device, on a machine with or without CUDA.
func TestDevice(t *testing.T) {
	cuda := torch.CUDADeviceCount()
	auto := torch.CPU
	if cuda > 0 {
		auto = torch.CUDA(0)
	}
	noGPU := "this libtorch sees 0 CUDA devices"
	type tc struct {
		args []string
		want torch.Device
		err  string // substring; "" for success
	}
	cases := []tc{
		{nil, auto, ""},
		{[]string{"--device", "cpu"}, torch.CPU, ""},
		{[]string{"--gpu_ids", "-1"}, torch.CPU, ""},
		{[]string{"--gpu_ids", "-1", "--device", "auto"}, auto, ""}, // --device given wins
		{[]string{"--device", "cpu", "--gpu_ids", "0"}, torch.CPU, ""},
		{[]string{"--gpu_ids", "zero"}, torch.CPU, "--gpu_ids \"zero\""},
		{[]string{"--device", "tpu"}, torch.CPU, "--device tpu: unknown device"},
		{[]string{"--device", "cpu", "--precision", "fp16"}, torch.CPU, "needs a CUDA device"},
		{[]string{"--device", "cpu", "--precision", "bf16"}, torch.CPU, ""},
	}
	if cuda == 0 {
		cases = append(cases, tc{[]string{"--gpu_ids", "0,1"}, torch.CPU, "--gpu_ids cuda:0: " + noGPU},
			tc{[]string{"--device", "cuda:1"}, torch.CPU, "--device cuda:1: " + noGPU})
	} else {
		cases = append(cases, tc{[]string{"--gpu_ids", "0,1"}, torch.CUDA(0), ""})
	}
	for _, c := range cases {
		o, err := BuildOptions(true, c.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		got, err := Device(o)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("%v: device %s, want %s", c.args, got, c.want)
		}
	}
	o, _ := BuildOptions(true, []string{"--precision", "fp16"}, io.Discard)
	if dt, err := Precision(o); err != nil || dt != torch.Float16 {
		t.Errorf("Precision(fp16) = %v, %v", dt, err)
	}
	if _, err := BuildOptions(true, []string{"--precision", "fp8"}, io.Discard); err == nil {
		t.Error("--precision fp8 accepted")
	}
}

// PrecisionAdvice speaks only about bf16 on the CPU, and then names the
// CPU and the way out.
func TestPrecisionAdvice(t *testing.T) {
	if a := PrecisionAdvice(torch.CPU, torch.Float32); a != "" {
		t.Errorf("fp32: %q", a)
	}
	if a := PrecisionAdvice(torch.CUDA(0), torch.BFloat16); a != "" {
		t.Errorf("bf16 on CUDA: %q", a)
	}
	a := PrecisionAdvice(torch.CPU, torch.BFloat16)
	t.Logf("bf16 on %s: %q", torch.CPUSummary(), a)
	if a != "" && (!strings.Contains(a, "--precision fp32") || !strings.Contains(a, torch.CPUModel())) {
		t.Errorf("advice %q does not name the CPU and --precision fp32", a)
	}
	f32, b16, err := timeConvs()
	if err != nil || f32 <= 0 || b16 <= 0 {
		t.Errorf("timeConvs: %g, %g, %v", f32, b16, err)
	}
}
