package networks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vggEnv sets HOME, TORCH_HOME, XDG_CACHE_HOME and CYCLEPIX_VGG19 for one
// case; "" leaves a variable empty, which counts as unset.
func vggEnv(t *testing.T, home, torchHome, xdg, vgg string) {
	t.Setenv("HOME", home)
	t.Setenv("TORCH_HOME", torchHome)
	t.Setenv("XDG_CACHE_HOME", xdg)
	t.Setenv("CYCLEPIX_VGG19", vgg)
}

func TestVGG19CachePath(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	for _, c := range []struct {
		name, torchHome, xdg, want string
	}{
		{"TORCH_HOME first", "/th", "/xdg", "/th/hub/checkpoints/" + VGG19File},
		{"then XDG_CACHE_HOME", "", "/xdg", "/xdg/torch/hub/checkpoints/" + VGG19File},
		{"then ~/.cache", "", "", home + "/.cache/torch/hub/checkpoints/" + VGG19File},
		{"~ expanded as torch.hub does", "~/th", "", home + "/th/hub/checkpoints/" + VGG19File},
	} {
		t.Run(c.name, func(t *testing.T) {
			vggEnv(t, home, c.torchHome, c.xdg, "")
			if got := VGG19CachePath(); got != filepath.FromSlash(c.want) {
				t.Errorf("VGG19CachePath() = %s, want %s", got, c.want)
			}
		})
	}
}

func TestLocateVGG19(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	torchHome := filepath.Join(root, "torch")
	xdg := filepath.Join(root, "xdg")
	homeFile := filepath.Join(home, ".cache", "torch", "hub", "checkpoints", VGG19File)
	torchFile := filepath.Join(torchHome, "hub", "checkpoints", VGG19File)
	xdgFile := filepath.Join(xdg, "torch", "hub", "checkpoints", VGG19File)
	own := filepath.Join(root, "own", "vgg.pth")
	missing := filepath.Join(root, "missing.pth")
	folder := filepath.Join(root, "own")

	for _, c := range []struct {
		name   string
		files  []string // regular files to create
		given  string
		env    [3]string // TORCH_HOME, XDG_CACHE_HOME, CYCLEPIX_VGG19
		want   string    // the path found, or
		errStr string    // the whole error
	}{
		{name: "given", files: []string{own, homeFile}, given: own, want: own},
		{name: "given wins over the environment", files: []string{own, torchFile}, given: own, env: [3]string{torchHome, "", torchFile}, want: own},
		{name: "given missing", given: missing,
			errStr: "--vgg19 " + missing + ": no such file (give the path of torchvision's vgg19-dcbb9e9d.pth, or run 'cyclepix data download vgg19' and drop --vgg19)"},
		{name: "given folder", files: []string{own}, given: folder,
			errStr: "--vgg19 " + folder + ": is a folder (give the weights file in it, e.g. " + filepath.Join(folder, VGG19File) + ")"},
		{name: "CYCLEPIX_VGG19 first", files: []string{own, torchFile, xdgFile, homeFile}, env: [3]string{torchHome, xdg, own}, want: own},
		{name: "CYCLEPIX_VGG19 missing: TORCH_HOME", files: []string{torchFile, xdgFile, homeFile}, env: [3]string{torchHome, xdg, missing}, want: torchFile},
		{name: "CYCLEPIX_VGG19 a folder: TORCH_HOME", files: []string{own, torchFile}, env: [3]string{torchHome, "", folder}, want: torchFile},
		{name: "TORCH_HOME empty: XDG_CACHE_HOME", files: []string{xdgFile, homeFile}, env: [3]string{torchHome, xdg, ""}, want: xdgFile},
		{name: "home cache", files: []string{homeFile}, env: [3]string{torchHome, xdg, ""}, want: homeFile},
		{name: "home cache without variables", files: []string{homeFile}, want: homeFile},
		{name: "none", env: [3]string{torchHome, xdg, missing},
			errStr: "no VGG19 weights for the VGG loss (looked in $CYCLEPIX_VGG19=" + missing + ", " + torchFile + ", " + xdgFile + ", " + homeFile +
				"): run 'cyclepix data download vgg19' (torchvision's vgg19-dcbb9e9d.pth, 548 MB), give --vgg19 PATH, or train without the VGG loss: --no_vgg_loss"},
		{name: "none, each place once", env: [3]string{"", filepath.Join(home, ".cache"), ""},
			errStr: "no VGG19 weights for the VGG loss (looked in " + homeFile +
				"): run 'cyclepix data download vgg19' (torchvision's vgg19-dcbb9e9d.pth, 548 MB), give --vgg19 PATH, or train without the VGG loss: --no_vgg_loss"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			for _, f := range c.files {
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte("weights"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			vggEnv(t, home, c.env[0], c.env[1], c.env[2])
			got, err := LocateVGG19(c.given)
			if c.errStr != "" {
				if err == nil || err.Error() != c.errStr {
					t.Errorf("LocateVGG19(%q) = %q, %v\nwant error %s", c.given, got, err, c.errStr)
				}
				if err != nil && strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("LocateVGG19(%q) = %q, %v; want %s", c.given, got, err, c.want)
			}
		})
	}
}
