// Package download fetches the reference's datasets and pretrained
// generators (its datasets/download_*_dataset.sh and
// scripts/download_*_model.sh), and torchvision's VGG19 weights for
// pix2pixHD's VGG loss, over HTTP: resumable through Range requests into a
// .part file, checked against the size the server announces (and weights
// against their SHA-256), with a progress bar, then unpacked (zip or
// tar.gz) for datasets.
package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"cyclepix/data/progress"
)

// DefaultBaseURL is where the reference's scripts download from.
const DefaultBaseURL = "http://efrosgans.eecs.berkeley.edu"

// CUTDatasetsURL is where CUT's datasets/download_cut_dataset.sh
// downloads from; CUT's pretrained models are on DefaultBaseURL.
const CUTDatasetsURL = "https://people.eecs.berkeley.edu"

// TorchvisionURL is where torchvision downloads its pretrained weights
// from.
const TorchvisionURL = "https://download.pytorch.org"

// VGG19 is torchvision's pretrained VGG19 (vgg19(pretrained=True)), which
// pix2pixHD's VGG loss uses. Its name ends in the first 8 hex digits of its
// SHA-256, which torchvision checks and so does Fetch. The file is in
// PyTorch's legacy (pre-zip) format, which the pth package reads.
var VGG19 = Item{
	Name: "vgg19", Source: "torchvision", Weights: true,
	Host: TorchvisionURL, Path: "/models/vgg19-dcbb9e9d.pth",
	File: "vgg19-dcbb9e9d.pth", SHA256Prefix: "dcbb9e9d",
}

// WeightsFiles are the weights files Resolve knows besides the
// reference's lists.
var WeightsFiles = []Item{VGG19}

// Names the reference's scripts accept.
var (
	// CycleGANDatasets are .zip archives of trainA/trainB/testA/testB.
	CycleGANDatasets = []string{"ae_photos", "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo",
		"cezanne2photo", "ukiyoe2photo", "vangogh2photo", "maps", "facades", "iphone2dslr_flower",
		"mini", "mini_pix2pix", "mini_colorization"}
	// Pix2PixDatasets are .tar.gz archives of aligned train/val/test.
	Pix2PixDatasets = []string{"night2day", "edges2handbags", "edges2shoes", "facades", "maps"}
	// CycleGANModels are single generators (latest_net_G.pth).
	CycleGANModels = []string{"apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite",
		"horse2zebra", "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh",
		"sat2map", "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label",
		"facades_label2photo", "iphone2dslr_flower"}
	// Pix2PixModels are single generators (latest_net_G.pth).
	Pix2PixModels = []string{"edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"}
	// CUTDatasets are the .zip archives only CUT's script has (its other
	// names are CycleGAN's datasets).
	CUTDatasets = []string{"grumpifycat"}
	// CUTModels are CUT's published generators, all in one archive
	// (cutModelsArchive), each <name>_pretrained/latest_net_G.pth in it.
	CUTModels = []string{"horse2zebra_cut", "horse2zebra_fastcut", "cat2dog_cut", "cat2dog_fastcut", "cityscapes_cut", "cityscapes_fastcut"}
)

// cutModelsArchive is CUT's README's pretrained_models.tar.
const cutModelsArchive = "/CUT/pretrained_models.tar"

const cityscapesNote = "the Cityscapes dataset cannot be redistributed (license): download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from cityscapes-dataset.com and convert them to A|B pairs"

// Item is a resolved download.
type Item struct {
	Name   string
	Source string // "cyclegan", "pix2pix" or "cut"
	Model  bool
	Path   string // URL path below the base URL
	// Host is the server Path is on, unless Options.BaseURL says
	// otherwise: DefaultBaseURL or CUTDatasetsURL.
	Host string
	// Archive marks a model that comes in an archive of several (CUT's
	// tar): Fetch unpacks every <name>_pretrained folder in it.
	Archive bool
	// Weights marks a single weights file that is not a generator
	// (torchvision's VGG19): Fetch saves it as <To>/<File>.
	Weights bool
	File    string
	// SHA256Prefix, when set, is how the file's SHA-256 must start (hex,
	// as torch.hub checks the digits in a file's name); Fetch refuses a
	// download that does not match.
	SHA256Prefix string
}

// Resolve finds name in the reference's lists: datasets, or pretrained
// generators when model is set. source ("cyclegan", "pix2pix" or "")
// chooses between the two lists where a name is in both (facades, maps,
// sat2map, …).
//
// CUT's names (source "cut") are in neither list: its grumpifycat dataset
// and its pretrained generators, named as CUT names their folders
// (horse2zebra_cut or horse2zebra_cut_pretrained).
//
// The names of WeightsFiles (vgg19) resolve with or without model, and
// without source.
func Resolve(name string, model bool, source string) (Item, error) {
	if source != "" && source != "cyclegan" && source != "pix2pix" && source != "cut" {
		return Item{}, fmt.Errorf("unknown --source %q (cyclegan, pix2pix or cut)", source)
	}
	for _, w := range WeightsFiles {
		if name != w.Name {
			continue
		}
		if source != "" {
			return Item{}, fmt.Errorf("%s is %s's weights file, not a %s download: drop --source %s", name, w.Source, source, source)
		}
		return w, nil
	}
	if name == "cityscapes" && !model {
		return Item{}, errors.New(cityscapesNote)
	}
	cg, px, cut, what := CycleGANDatasets, Pix2PixDatasets, CUTDatasets, "dataset"
	if model {
		cg, px, cut, what = CycleGANModels, Pix2PixModels, CUTModels, "pretrained model"
		name = strings.TrimSuffix(name, "_pretrained")
	}
	if slices.Contains(cut, name) && (source == "" || source == "cut") {
		return item(name, "cut", model), nil
	}
	inCG, inPX := slices.Contains(cg, name), slices.Contains(px, name)
	switch {
	case source == "cyclegan" && inCG, source == "" && inCG && !inPX:
		return item(name, "cyclegan", model), nil
	case source == "pix2pix" && inPX, source == "" && inPX && !inCG:
		return item(name, "pix2pix", model), nil
	case source == "" && inCG && inPX:
		return Item{}, fmt.Errorf("%s %s exists for both CycleGAN and pix2pix: add --source cyclegan or --source pix2pix", what, name)
	}
	hint := ""
	if !model && (slices.Contains(CycleGANModels, name) || slices.Contains(Pix2PixModels, name) || slices.Contains(CUTModels, strings.TrimSuffix(name, "_pretrained"))) {
		hint = " (it is a pretrained model: add --model)"
	} else if model && (slices.Contains(CycleGANDatasets, name) || slices.Contains(Pix2PixDatasets, name) || slices.Contains(CUTDatasets, name)) {
		hint = " (it is a dataset: drop --model)"
	}
	return Item{}, fmt.Errorf("unknown %s %q%s; CycleGAN: %s; pix2pix: %s; CUT: %s; weights: %s", what, name, hint, strings.Join(cg, ", "), strings.Join(px, ", "), strings.Join(cut, ", "), strings.Join(WeightsNames(), ", "))
}

// WeightsNames lists the names of WeightsFiles.
func WeightsNames() []string {
	names := make([]string, len(WeightsFiles))
	for i, w := range WeightsFiles {
		names[i] = w.Name
	}
	return names
}

func item(name, source string, model bool) Item {
	it := Item{Name: name, Source: source, Model: model, Host: DefaultBaseURL}
	switch {
	case source == "cut" && model:
		it.Path, it.Archive = cutModelsArchive, true
	case source == "cut":
		it.Path, it.Host = "/~taesung_park/CycleGAN/datasets/"+name+".zip", CUTDatasetsURL
	case source == "cyclegan" && model:
		it.Path = "/cyclegan/pretrained_models/" + name + ".pth"
	case source == "pix2pix" && model:
		it.Path = "/pix2pix/models-pytorch/" + name + ".pth"
	case source == "cyclegan":
		it.Path = "/cyclegan/datasets/" + name + ".zip"
	default:
		it.Path = "/pix2pix/datasets/" + name + ".tar.gz"
	}
	return it
}

// Options configure Fetch.
type Options struct {
	// To is the destination root: datasets unpack to <To>/<name>
	// (default ./datasets), models go to
	// <To>/<name>_pretrained/latest_net_G.pth (default ./checkpoints),
	// weights files to <To>/<File> (default ./checkpoints; the command
	// line passes torch's hub cache, where torchvision keeps them).
	To      string
	BaseURL string // default DefaultBaseURL
	Client  *http.Client
	// Progress receives the progress bars, Log one line per step (nil:
	// silent).
	Progress, Log io.Writer
}

// Fetch downloads (and for datasets unpacks) it, returning where the result
// is. A dataset folder or model file already in place is not downloaded
// again; an interrupted download resumes from its .part file.
func Fetch(ctx context.Context, it Item, o Options) (string, error) {
	base := strings.TrimSuffix(o.BaseURL, "/")
	if base == "" {
		base = it.Host
	}
	if base == "" {
		base = DefaultBaseURL
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	url := base + it.Path
	if it.Weights {
		return fetchWeights(ctx, it, url, o, log)
	}
	if it.Model {
		to := o.To
		if to == "" {
			to = "checkpoints"
		}
		dest := filepath.Join(to, it.Name+"_pretrained", "latest_net_G.pth")
		if _, err := os.Stat(dest); err == nil {
			fmt.Fprintf(log, "%s already exists; delete it to download again\n", dest)
			return dest, nil
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return "", fmt.Errorf("download %s: %w", it.Name, err)
		}
		if it.Archive {
			return dest, fetchModelArchive(ctx, it, url, to, dest, o, log)
		}
		fmt.Fprintf(log, "downloading %s → %s\n", url, dest)
		return dest, File(ctx, o.Client, url, dest, o.Progress)
	}
	to := o.To
	if to == "" {
		to = "datasets"
	}
	target := filepath.Join(to, it.Name)
	if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 {
		fmt.Fprintf(log, "%s already exists; delete it to download again\n", target)
		return target, nil
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return "", fmt.Errorf("download %s: %w", it.Name, err)
	}
	archive := filepath.Join(to, filepath.Base(it.Path))
	fmt.Fprintf(log, "downloading %s → %s\n", url, archive)
	if err := File(ctx, o.Client, url, archive, o.Progress); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "unpacking %s into %s\n", archive, to)
	var err error
	if strings.HasSuffix(archive, ".zip") {
		err = ExtractZip(ctx, archive, to, o.Progress)
	} else {
		err = ExtractTarGz(ctx, archive, to, o.Progress)
	}
	if err != nil {
		return "", err
	}
	if err := os.Remove(archive); err != nil {
		return "", fmt.Errorf("download %s: %w", it.Name, err)
	}
	if _, err := os.Stat(target); err != nil {
		return "", fmt.Errorf("download %s: the archive did not contain a %s folder", it.Name, it.Name)
	}
	return target, nil
}

// fetchWeights downloads a single weights file to <To>/<File>, checking
// its SHA-256 before it is renamed into place: a file that is in place has
// been checked, as torch.hub's cache assumes.
func fetchWeights(ctx context.Context, it Item, url string, o Options, log io.Writer) (string, error) {
	to := o.To
	if to == "" {
		to = "checkpoints"
	}
	dest := filepath.Join(to, it.File)
	if _, err := os.Stat(dest); err == nil {
		fmt.Fprintf(log, "%s already exists; delete it to download again\n", dest)
		return dest, nil
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return "", fmt.Errorf("download %s: %w", it.Name, err)
	}
	fmt.Fprintf(log, "downloading %s → %s\n", url, dest)
	var check func(part string) error
	if it.SHA256Prefix != "" {
		check = func(part string) error {
			fmt.Fprintf(log, "checking the SHA-256 of %s\n", part)
			return checkSHA256(part, it.SHA256Prefix, url)
		}
	}
	if err := file(ctx, o.Client, url, dest, o.Progress, check); err != nil {
		return "", err
	}
	return dest, nil
}

// checkSHA256 checks that the SHA-256 of the downloaded part starts with
// prefix; when it does not, it removes the file, so that the next run
// downloads it anew instead of resuming a corrupt one.
func checkSHA256(part, prefix, url string) error {
	f, err := os.Open(part)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("download %s: read %s: %w", url, part, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if strings.HasPrefix(sum, strings.ToLower(prefix)) {
		return nil
	}
	got := sum[:min(len(prefix), len(sum))]
	if err := os.Remove(part); err != nil {
		return fmt.Errorf("download %s: SHA-256 starts with %s, expected %s, and removing the bad file failed: %w (delete %s and run the command again)", url, got, prefix, err, part)
	}
	return fmt.Errorf("download %s: SHA-256 starts with %s, expected %s (a corrupted download or a changed file on the server): removed it; run the command again", url, got, prefix)
}

// fetchModelArchive downloads an archive of several pretrained models
// (CUT's tar, whose folders are checkpoints/<name>_pretrained/) and
// unpacks all of them into to, as CUT's README's tar -xf does, so the
// next of its models is already there; then it removes the archive.
func fetchModelArchive(ctx context.Context, it Item, url, to, dest string, o Options, log io.Writer) error {
	archive := filepath.Join(to, filepath.Base(it.Path))
	fmt.Fprintf(log, "downloading %s → %s (it holds all of CUT's pretrained generators)\n", url, archive)
	if err := File(ctx, o.Client, url, archive, o.Progress); err != nil {
		return err
	}
	fmt.Fprintf(log, "unpacking %s into %s\n", archive, to)
	strip := func(name string) (string, bool) {
		name = strings.TrimPrefix(strings.TrimPrefix(name, "./"), "checkpoints/")
		return name, strings.Contains(strings.SplitN(name, "/", 2)[0], "_pretrained")
	}
	if err := extractTar(ctx, archive, to, o.Progress, false, strip); err != nil {
		return err
	}
	if err := os.Remove(archive); err != nil {
		return fmt.Errorf("download %s: %w", it.Name, err)
	}
	if _, err := os.Stat(dest); err != nil {
		return fmt.Errorf("download %s: %s did not contain %s_pretrained/latest_net_G.pth", it.Name, url, it.Name)
	}
	return nil
}

// File downloads url to dest through dest+".part". When a .part file is
// left from an interrupted run, it asks only for the missing bytes (an HTTP
// Range request) and appends them; a server that ignores Range sends the
// whole file, which then replaces the .part. The file is renamed into
// place only when its size equals the size the server announced.
func File(ctx context.Context, client *http.Client, url, dest string, progressW io.Writer) error {
	return file(ctx, client, url, dest, progressW, nil)
}

// file is File with a check of the complete .part file before it is
// renamed into place (nil: none), so that dest never holds a file that
// failed it.
func file(ctx context.Context, client *http.Client, url, dest string, progressW io.Writer, check func(part string) error) error {
	if client == nil {
		client = http.DefaultClient
	}
	part := dest + ".part"
	for attempt := 0; ; attempt++ {
		err := fetchPart(ctx, client, url, part, progressW)
		if errors.Is(err, errRestart) && attempt == 0 {
			if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("download %s: %w", url, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if check != nil {
		if err := check(part); err != nil {
			return err
		}
	}
	if err := os.Rename(part, dest); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return nil
}

// errRestart asks File to drop the .part file and start over.
var errRestart = errors.New("restart download")

func fetchPart(ctx context.Context, client *http.Client, url, part string, progressW io.Writer) error {
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	var total int64 = -1
	flags := os.O_CREATE | os.O_WRONLY
	switch resp.StatusCode {
	case http.StatusOK:
		// Whole file: the server ignored the Range header (or none was sent).
		have = 0
		flags |= os.O_TRUNC
		total = resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return errRestart
		}
		flags |= os.O_APPEND
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// Either the .part is already complete or it is longer than the
		// file (which changed on the server): compare with the size.
		if _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size == have {
			return nil
		}
		return errRestart
	default:
		return fmt.Errorf("download %s: HTTP %s", url, resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	bar := progress.Bytes(progressW, total, filepath.Base(strings.TrimSuffix(part, ".part")))
	bar.Set64(have)
	n, copyErr := io.Copy(io.MultiWriter(f, bar), resp.Body)
	closeErr := f.Close()
	bar.Finish()
	got := have + n
	if copyErr != nil {
		return fmt.Errorf("download %s: %w after %d bytes; run the command again to resume", url, copyErr, got)
	}
	if closeErr != nil {
		return fmt.Errorf("download %s: %w", url, closeErr)
	}
	if total >= 0 && got != total {
		return fmt.Errorf("download %s: got %d of %d bytes; run the command again to resume", url, got, total)
	}
	return nil
}

// parseContentRange reads "bytes START-END/SIZE" or "bytes */SIZE"; size
// is -1 when the server does not know it.
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		v, err := strconv.ParseInt(sz, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		size = v
	}
	if rng == "*" {
		return 0, size, true
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, size, true
}
