package dashboard

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cyclepix/options"
	"cyclepix/viz"
)

// follower is what the poller remembers between polls of a run's files.
type follower struct {
	logSig, optSig, imgSig, metSig, bestSig string
	consumed                                int // loss-log points already in the curves
	ipe                                     int // images per epoch the curves were laid out with
	epochs                                  int // from train_opt.txt
	// recent (time, position in images) pairs, for the speed of a run that
	// is going on in another process
	seen []obs
}

type obs struct {
	t   time.Time
	pos float64
}

// poll follows the run's files until ctx is done: in Files mode the loss
// and metrics logs, the options and the images; in live mode the images under web/ (the
// per-epoch gallery), the rest coming from the training loop.
func (s *Server) poll(ctx context.Context) {
	f := &follower{}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.pollOnce(f)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) pollOnce(f *follower) {
	if s.cfg.Files {
		s.pollOptions(f)
		if err := s.pollLog(f); err != nil {
			s.log.Debug("dashboard: loss log", "err", err)
		}
		s.pollMetrics(f)
		s.pollBest(f)
	}
	s.pollImages(f)
}

// sig is a cheap change signature of a file: size and modification time.
func sig(path string) (string, os.FileInfo) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano()), fi
}

func (s *Server) pollOptions(f *follower) {
	p := filepath.Join(s.dir, "train_opt.txt")
	sg, _ := sig(p)
	if sg == f.optSig {
		return
	}
	f.optSig = sg
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	f.epochs = totalEpochs(string(b))
	s.SetOptions(string(b))
}

// pollLog adds the loss log's new points. It reloads the whole log when
// the file shrank or when the images per epoch, estimated from the log,
// changed (the x positions of all points depend on it).
func (s *Server) pollLog(f *follower) error {
	p := filepath.Join(s.dir, "loss_log.txt")
	sg, fi := sig(p)
	if sg == f.logSig {
		return nil
	}
	f.logSig = sg
	pts, err := viz.ReadLossLog(p)
	if err != nil {
		return err
	}
	if !endsWithNewline(p, fi) && len(pts) > 0 {
		// The last line may be half-written: take it next time.
		pts = pts[:len(pts)-1]
		f.logSig = ""
	}
	ipe := estimateItersPerEpoch(pts)
	now := time.Now()
	var prog Progress
	if n := len(pts); n > 0 {
		last := pts[n-1]
		prog = Progress{Epoch: last.Epoch, EpochIter: last.Iters, ItersPerEpoch: ipe, Epochs: f.epochs}
	}
	if fi != nil {
		prog.Updated = fi.ModTime().UnixMilli()
	}
	if len(pts) < f.consumed || ipe != f.ipe {
		f.seen = nil
		s.st.load(pts, ipe, prog)
		f.consumed, f.ipe = len(pts), ipe
		return nil
	}
	if len(pts) == f.consumed {
		return nil
	}
	for i, pt := range pts[f.consumed:] {
		x := epochX(pt.Epoch, pt.Iters, ipe)
		q := prog
		if i < len(pts)-f.consumed-1 {
			q = Progress{Epoch: pt.Epoch, EpochIter: pt.Iters, ItersPerEpoch: ipe, Epochs: f.epochs, Updated: prog.Updated}
		} else {
			f.speed(now, x*float64(ipe), &q)
		}
		s.st.addPoint(x, pt.Losses, q)
	}
	f.consumed = len(pts)
	return nil
}

// speed estimates images per second and the ETA from when new points were
// seen (the log has no wall-clock time), over the last few changes. A
// finished run, seen once, has no speed.
func (f *follower) speed(now time.Time, pos float64, p *Progress) {
	if n := len(f.seen); n > 0 && pos < f.seen[n-1].pos {
		f.seen = nil // rewound
	}
	f.seen = append(f.seen, obs{now, pos})
	if len(f.seen) > 10 {
		f.seen = f.seen[1:]
	}
	first, last := f.seen[0], f.seen[len(f.seen)-1]
	dt := last.t.Sub(first.t).Seconds()
	if len(f.seen) < 2 || dt <= 0 || last.pos <= first.pos {
		return
	}
	ips := (last.pos - first.pos) / dt
	p.ImagesPerSec = Num(ips)
	if p.Epochs > 0 && p.ItersPerEpoch > 0 {
		remaining := float64(p.Epochs*p.ItersPerEpoch) - pos
		p.ETASeconds = Num(max(remaining, 0) / ips)
	}
}

func endsWithNewline(path string, fi os.FileInfo) bool {
	if fi == nil || fi.Size() == 0 {
		return true
	}
	fh, err := os.Open(path)
	if err != nil {
		return true
	}
	defer fh.Close()
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, fi.Size()-1); err != nil && err != io.EOF {
		return true
	}
	return b[0] == '\n'
}

// estimateItersPerEpoch is the images per epoch of a loss log: the largest
// "iters" of the epochs that were followed by another (finished epochs),
// else the largest seen. The log does not say the dataset's size; this is
// within --print_freq of it.
func estimateItersPerEpoch(pts []viz.Point) int {
	if len(pts) == 0 {
		return 1
	}
	last := pts[len(pts)-1].Epoch
	finished, all := 0, 0
	for _, p := range pts {
		all = max(all, p.Iters)
		if p.Epoch != last {
			finished = max(finished, p.Iters)
		}
	}
	if finished > 0 {
		return finished
	}
	return max(all, 1)
}

// totalEpochs is n_epochs + n_epochs_decay of an options file's text
// (options.ParseText), or 0 when unknown.
func totalEpochs(text string) int {
	r, err := options.ParseText(text)
	if err != nil {
		return 0
	}
	a, err1 := strconv.Atoi(r.Values["n_epochs"])
	b, err2 := strconv.Atoi(r.Values["n_epochs_decay"])
	if err1 != nil || err2 != nil {
		return 0
	}
	return a + b
}

// epochImageRE matches web/images/epoch<N>_<visual>.png, as train saves
// them.
var epochImageRE = regexp.MustCompile(`^epoch(\d+)_(.+)\.(png|jpg|jpeg)$`)

// maxGalleryEpochs bounds the gallery of a very long run (newest kept).
const maxGalleryEpochs = 1000

// visualRank orders the visuals as the reference's models list them.
var visualRank = map[string]int{"real_A": 0, "fake_B": 1, "rec_A": 2, "idt_B": 3, "real_B": 4, "fake_A": 5, "rec_B": 6, "idt_A": 7}

func sortVisuals(vs []Visual) {
	slices.SortStableFunc(vs, func(a, b Visual) int {
		ra, oka := visualRank[a.Name]
		rb, okb := visualRank[b.Name]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// pollImages rebuilds the gallery from web/images when the folder changed;
// in Files mode it also picks the current visuals: the newest of the last
// epoch's images and of live/ (which train writes between HTML updates).
func (s *Server) pollImages(f *follower) {
	webDir := filepath.Join(s.dir, "web", "images")
	liveDir := filepath.Join(s.dir, "live")
	web, _ := os.ReadDir(webDir)
	live, _ := os.ReadDir(liveDir)
	var b strings.Builder
	type file struct {
		name string
		mod  time.Time
	}
	info := func(list []os.DirEntry) []file {
		var out []file
		for _, e := range list {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, file{e.Name(), fi.ModTime()})
			fmt.Fprintf(&b, "%s/%d/%d;", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
		return out
	}
	webFiles := info(web)
	b.WriteString("|")
	liveFiles := info(live)
	if b.String() == f.imgSig {
		return
	}
	f.imgSig = b.String()

	byEpoch := map[int][]Visual{}
	newest := map[int]time.Time{}
	for _, fl := range webFiles {
		m := epochImageRE.FindStringSubmatch(fl.name)
		if m == nil {
			continue
		}
		e, _ := strconv.Atoi(m[1])
		u, ok := s.imageURL(filepath.Join(webDir, fl.name), fl.mod.UnixNano())
		if !ok {
			continue
		}
		byEpoch[e] = append(byEpoch[e], Visual{Name: m[2], URL: u})
		if fl.mod.After(newest[e]) {
			newest[e] = fl.mod
		}
	}
	epochs := make([]int, 0, len(byEpoch))
	for e := range byEpoch {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	slices.Reverse(epochs)
	if len(epochs) > maxGalleryEpochs {
		epochs = epochs[:maxGalleryEpochs]
	}
	gallery := make([]EpochVisuals, 0, len(epochs))
	for _, e := range epochs {
		sortVisuals(byEpoch[e])
		gallery = append(gallery, EpochVisuals{Epoch: e, Visuals: byEpoch[e]})
	}
	s.st.setGallery(gallery)
	if !s.cfg.Files {
		return
	}

	// The current visuals: live/ when it is newer than the last epoch's.
	var cur []Visual
	curEpoch := 0
	var webTime time.Time
	if len(gallery) > 0 {
		cur, curEpoch, webTime = gallery[0].Visuals, gallery[0].Epoch, newest[gallery[0].Epoch]
	}
	var liveVis []Visual
	var liveTime time.Time
	for _, fl := range liveFiles {
		ext := strings.ToLower(filepath.Ext(fl.name))
		if _, ok := imageExts[ext]; !ok {
			continue
		}
		u, ok := s.imageURL(filepath.Join(liveDir, fl.name), fl.mod.UnixNano())
		if !ok {
			continue
		}
		liveVis = append(liveVis, Visual{Name: strings.TrimSuffix(fl.name, filepath.Ext(fl.name)), URL: u})
		if fl.mod.After(liveTime) {
			liveTime = fl.mod
		}
	}
	if len(liveVis) > 0 && liveTime.After(webTime) {
		sortVisuals(liveVis)
		cur = liveVis
		curEpoch = s.st.snapshotEpoch()
	}
	if cur != nil {
		s.st.setVisuals(curEpoch, 0, cur)
	}
}
