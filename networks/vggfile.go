package networks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// VGG19File is the name of torchvision's pretrained VGG19 weights, which
// pix2pixHD's VGG loss uses (torchvision.models.vgg19(pretrained=True)).
// torchvision checks that the file's SHA-256 starts with the hex digits
// after the dash.
const VGG19File = "vgg19-dcbb9e9d.pth"

// VGG19CachePath is where torchvision keeps VGG19File, and so where
// 'cyclepix data download vgg19' puts it: torch.hub's cache,
// $TORCH_HOME/hub/checkpoints, with TORCH_HOME defaulting to
// $XDG_CACHE_HOME/torch and XDG_CACHE_HOME to ~/.cache. Sharing torch's
// cache means a machine that has run pix2pixHD already has the file.
// Without $HOME (and the two variables) the path is relative to the
// working folder.
func VGG19CachePath() string {
	if v := expandHome(os.Getenv("TORCH_HOME")); v != "" {
		return filepath.Join(v, "hub", "checkpoints", VGG19File)
	}
	if v := expandHome(os.Getenv("XDG_CACHE_HOME")); v != "" {
		return filepath.Join(v, "torch", "hub", "checkpoints", VGG19File)
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "torch", "hub", "checkpoints", VGG19File)
}

// expandHome expands a leading "~" as torch.hub does (os.path.expanduser),
// for a variable set to "~/…" where no shell expanded it (a .env file, a
// systemd unit).
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// LocateVGG19 finds the VGG19 weights for the VGG loss. A non-empty given
// (--vgg19) is used as it is and must be a regular file. Otherwise the
// first regular file of $CYCLEPIX_VGG19, $TORCH_HOME/hub/checkpoints,
// $XDG_CACHE_HOME/torch/hub/checkpoints and ~/.cache/torch/hub/checkpoints
// (the last three holding VGG19File) is returned: the places where
// torchvision may already have downloaded it. The error for none says
// where it looked and the three ways out.
func LocateVGG19(given string) (string, error) {
	if given != "" {
		st, err := os.Stat(given)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("--vgg19 %s: no such file (give the path of torchvision's %s, or run 'cyclepix data download vgg19' and drop --vgg19)", given, VGG19File)
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is already in the message
			}
			return "", fmt.Errorf("--vgg19 %s: %v (give a readable copy of torchvision's %s)", given, err, VGG19File)
		case st.IsDir():
			return "", fmt.Errorf("--vgg19 %s: is a folder (give the weights file in it, e.g. %s)", given, filepath.Join(given, VGG19File))
		case !st.Mode().IsRegular():
			return "", fmt.Errorf("--vgg19 %s: not a regular file (give the path of torchvision's %s)", given, VGG19File)
		}
		return given, nil
	}
	var looked []string
	seen := map[string]bool{}
	try := func(label, path string) (string, bool) {
		if path == "" || seen[path] {
			return "", false
		}
		seen[path] = true
		looked = append(looked, label+path)
		st, err := os.Stat(path)
		return path, err == nil && st.Mode().IsRegular()
	}
	if p, ok := try("$CYCLEPIX_VGG19=", os.Getenv("CYCLEPIX_VGG19")); ok {
		return p, nil
	}
	cache := func(dir string, sub ...string) string {
		if dir == "" {
			return ""
		}
		return filepath.Join(append(append([]string{dir}, sub...), "hub", "checkpoints", VGG19File)...)
	}
	cands := []string{
		cache(expandHome(os.Getenv("TORCH_HOME"))),
		cache(expandHome(os.Getenv("XDG_CACHE_HOME")), "torch"),
	}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, cache(home, ".cache", "torch"))
	}
	for _, c := range cands {
		if p, ok := try("", c); ok {
			return p, nil
		}
	}
	where := strings.Join(looked, ", ")
	if where == "" {
		where = "nowhere: none of $CYCLEPIX_VGG19, $TORCH_HOME, $XDG_CACHE_HOME, $HOME is set"
	}
	return "", fmt.Errorf("no VGG19 weights for the VGG loss (looked in %s): run 'cyclepix data download vgg19' (torchvision's %s, 548 MB), give --vgg19 PATH, or train without the VGG loss: --no_vgg_loss",
		where, VGG19File)
}
