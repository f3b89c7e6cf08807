package torch

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
)

// CPUModel is the processor's name as the kernel reports it (the first
// "model name" of /proc/cpuinfo), or "" where it does not say.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CPUSummary is one line naming the processor, its CPU count and which of
// CPUFeatures it has: what decides libtorch's kernels and whether bf16
// pays, for benchmark headers and `cyclepix version`, since timings from
// different machines cannot be compared.
func CPUSummary() string {
	model := CPUModel()
	if model == "" {
		model = runtime.GOARCH + " CPU"
	}
	var have, lack []string
	for k, on := range CPUFeatures() {
		if on {
			have = append(have, k)
		} else {
			lack = append(lack, k)
		}
	}
	sort.Strings(have)
	sort.Strings(lack)
	s := fmt.Sprintf("%s, %d CPUs", model, runtime.NumCPU())
	if len(have) > 0 {
		s += "; has " + strings.Join(have, " ")
	}
	if len(lack) > 0 {
		s += "; lacks " + strings.Join(lack, " ")
	}
	return s
}
