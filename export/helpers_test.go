package export

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cyclepix/nn"
	"cyclepix/torch"
)

func runJSON(t *testing.T, cmd *exec.Cmd, out any) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("%s printed %q: %v", cmd.Args[0], res, err)
	}
}

var ort struct {
	once     sync.Once
	nodePath string
	skip     string
}

// ortNodePath returns a NODE_PATH under which require("onnxruntime-node")
// works. The npm package ships onnxruntime's CPU library for Linux, macOS
// and Windows; it is installed once into the user cache
// ($CYCLEPIX_ORT_NODE_DIR to choose another folder) with --ignore-scripts,
// since its install script only fetches optional CUDA libraries from
// nuget.org. The test is skipped when node or npm is missing, the registry
// cannot be reached, or CYCLEPIX_NO_NPM is set.
func ortNodePath(t *testing.T) string {
	t.Helper()
	ort.once.Do(func() {
		if os.Getenv("CYCLEPIX_NO_NPM") != "" {
			ort.skip = "CYCLEPIX_NO_NPM is set"
			return
		}
		if _, err := exec.LookPath("node"); err != nil {
			ort.skip = "node not found"
			return
		}
		dir := os.Getenv("CYCLEPIX_ORT_NODE_DIR")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				ort.skip = "no user cache folder: " + err.Error()
				return
			}
			dir = filepath.Join(cache, "cyclepix", "onnxruntime-node")
		}
		mods := filepath.Join(dir, "node_modules")
		works := func() bool {
			cmd := exec.Command("node", "-e", `require("onnxruntime-node")`)
			cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
			return cmd.Run() == nil
		}
		if works() {
			ort.nodePath = mods
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			ort.skip = "npm not found"
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			ort.skip = err.Error()
			return
		}
		// Another test process may be installing into the same folder.
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			ort.skip = err.Error()
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			ort.skip = err.Error()
			return
		}
		if !works() {
			t.Logf("installing onnxruntime-node into %s", dir)
			start := time.Now()
			cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts",
				"--loglevel", "error", "onnxruntime-node@1")
			if out, err := cmd.CombinedOutput(); err != nil {
				ort.skip = "npm install onnxruntime-node failed: " + lastLine(string(out))
				return
			}
			t.Logf("installed in %.1f s", time.Since(start).Seconds())
		}
		if !works() {
			ort.skip = "onnxruntime-node does not load after installing"
			return
		}
		ort.nodePath = mods
	})
	if ort.skip != "" {
		t.Skip(ort.skip)
	}
	return ort.nodePath
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// randomize gives every weight and statistic a random value of a sensible
// scale, so that outputs are far from 0 (the reference's init, N(0, 0.02),
// would make most comparisons trivial) and batch norm's running statistics
// matter. Batch norm's running statistics are first measured on a random
// batch of the given shape (momentum 1), then perturbed: left at random,
// they would let activations grow through the residual blocks until the
// tanh saturates and every output is ±1.
func randomize(t *testing.T, m nn.Module, seed uint64, shape ...int64) {
	t.Helper()
	torch.ManualSeed(seed)
	err := torch.Try(func() {
		nn.Walk(m, func(_ string, l nn.Module) {
			switch l := l.(type) {
			case *nn.Conv2d:
				s := l.Weight.Shape()
				l.Weight.Normal_(0, math.Sqrt(2/float64(s[1]*s[2]*s[3])))
				if l.Bias != nil {
					l.Bias.Normal_(0, 0.1)
				}
			case *nn.ConvTranspose2d:
				// Each output sees about in·k²/stride² weights.
				s := l.Weight.Shape()
				l.Weight.Normal_(0, math.Sqrt(2*float64(l.Stride*l.Stride)/float64(s[0]*s[2]*s[3])))
				if l.Bias != nil {
					l.Bias.Normal_(0, 0.1)
				}
			case *nn.BatchNorm:
				l.Weight.Uniform_(0.5, 1.5)
				l.Bias.Normal_(0, 0.1)
			}
		})
		var bns []*nn.BatchNorm
		nn.Walk(m, func(_ string, l nn.Module) {
			if bn, ok := l.(*nn.BatchNorm); ok {
				bns = append(bns, bn)
			}
		})
		if len(bns) == 0 {
			return
		}
		defer torch.NewScope().Close()
		for _, bn := range bns {
			bn.Momentum = 1
		}
		nn.SetTraining(m, true)
		torch.NoGrad(func() { m.Forward(torch.Rand(shape...).MulScalar(2).SubScalar(1)) })
		nn.SetTraining(m, false)
		for _, bn := range bns {
			bn.Momentum = 0.1
			bn.RunningMean.Copy_(bn.RunningMean.Add(torch.Randn(bn.RunningMean.Shape()...).MulScalar(0.05)))
			bn.RunningVar.Copy_(bn.RunningVar.Mul(torch.Rand(bn.RunningVar.Shape()...).MulScalar(0.4).AddScalar(0.8)))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
