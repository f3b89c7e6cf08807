package dashboard

import (
	"encoding/json"
	"math"
	"testing"

	"cyclepix/viz"
)

func TestSeriesDownsampling(t *testing.T) {
	cases := []struct {
		name       string
		max, n     int
		wantLen    int // stored + pending
		wantStride int
	}{
		{"below the limit", 8, 5, 5, 1},
		{"one short of the limit", 8, 7, 7, 1},
		{"fills once", 8, 8, 4, 2},
		{"fills once, pending point", 8, 9, 5, 2},
		{"fills twice", 8, 16, 4, 4},
		{"long run", 4000, 1_000_000, 0, 256},
		{"odd limit rounds down", 7, 6, 3, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSeries("L", c.max)
			sum := 0.0
			for i := 0; i < c.n; i++ {
				y := float64(i % 10)
				sum += y
				s.add(float64(i), y)
			}
			cv := s.curve()
			if len(cv.X) > c.max {
				t.Fatalf("%d points, limit %d", len(cv.X), c.max)
			}
			if c.wantLen > 0 && len(cv.X) != c.wantLen {
				t.Errorf("%d points, want %d", len(cv.X), c.wantLen)
			}
			if cv.Stride != c.wantStride {
				t.Errorf("stride %d, want %d", cv.Stride, c.wantStride)
			}
			// Averaging keeps the mean: stored points weigh stride raw
			// points each, the pending one pn.
			got := 0.0
			for i := range s.y {
				got += s.y[i] * float64(s.stride)
			}
			got += s.py
			if math.Abs(got-sum) > 1e-6*math.Max(1, sum) {
				t.Errorf("sum of values %v, want %v", got, sum)
			}
			for i := 1; i < len(cv.X); i++ {
				if cv.X[i] <= cv.X[i-1] {
					t.Fatalf("x not increasing at %d: %v", i, cv.X[i-1:i+1])
				}
			}
		})
	}
}

func TestSeriesTruncate(t *testing.T) {
	s := newSeries("L", 100)
	for i := 0; i < 10; i++ {
		s.add(float64(i), float64(i))
	}
	s.truncate(4)
	if got := s.curve().X; len(got) != 4 || got[3] != 3 {
		t.Fatalf("after truncate(4): %v", got)
	}
	s.truncate(-1)
	if len(s.curve().X) != 0 || s.last() != math.Inf(-1) {
		t.Fatalf("after truncate(-1): %v", s.curve().X)
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal([]Num{1.5, Num(math.NaN()), Num(math.Inf(1)), Num(math.Inf(-1)), 2e-7})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[1.5,null,null,null,2e-07]" {
		t.Fatalf("got %s", b)
	}
}

func losses(vals ...float64) []viz.Loss {
	names := []string{"G_A", "D_A", "cycle_A"}
	var ls []viz.Loss
	for i, v := range vals {
		ls = append(ls, viz.Loss{Name: names[i], Value: v})
	}
	return ls
}

func TestStateEventsAndRewind(t *testing.T) {
	st := newState("run", "live", StatusWaiting, 100)
	for i := 1; i <= 5; i++ {
		st.addPoint(float64(i), losses(float64(i), 1), Progress{Epoch: 1, EpochIter: i})
	}
	evs, resync, _ := st.since(0)
	if resync || len(evs) != 5 {
		t.Fatalf("since(0): %d events, resync %v", len(evs), resync)
	}
	if p := evs[4].data.(pointEvent); p.X != 5 || p.Losses[0] != (namedNum{"G_A", 5}) || p.Progress.EpochIter != 5 {
		t.Fatalf("last event %+v", p)
	}
	if evs, _, _ := st.since(5); len(evs) != 0 {
		t.Fatalf("since(latest): %d events", len(evs))
	}
	// A resumed run goes back to x=3: points 3.. go, streams resync.
	st.addPoint(3, losses(30, 1), Progress{Epoch: 1, EpochIter: 3})
	if _, resync, _ := st.since(5); !resync {
		t.Fatal("rewind did not ask for a snapshot")
	}
	snap := st.snapshot()
	if len(snap.Curves) != 2 {
		t.Fatalf("%d curves", len(snap.Curves))
	}
	g := snap.Curves[0]
	if g.Name != "G_A" || len(g.X) != 3 || g.X[2] != 3 || g.Y[2] != 30 {
		t.Fatalf("G_A after rewind: %+v", g)
	}
	// A stream far behind gets a snapshot too.
	for i := 0; i < ringSize+10; i++ {
		st.setStatus([]string{StatusTraining, StatusStopping}[i%2])
	}
	if _, resync, _ := st.since(snap.Seq); !resync {
		t.Fatal("a stream behind the ring did not resync")
	}
}

func TestStateBroadcast(t *testing.T) {
	st := newState("run", "live", StatusWaiting, 100)
	_, _, changed := st.since(0)
	select {
	case <-changed:
		t.Fatal("changed before any change")
	default:
	}
	st.promote(StatusWaiting, StatusTraining)
	select {
	case <-changed:
	default:
		t.Fatal("a change did not wake the waiters")
	}
	st.promote(StatusWaiting, StatusTraining) // no longer waiting: no event
	if evs, _, _ := st.since(0); len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
}

func TestEpochEndFinishes(t *testing.T) {
	st := newState("run", "live", StatusTraining, 100)
	st.setProgress(Progress{Epochs: 2})
	st.epochEnd(1, 1e-4, 3)
	if st.snapshot().Status != StatusTraining {
		t.Fatal("finished after epoch 1 of 2")
	}
	st.epochEnd(2, 0, 3)
	snap := st.snapshot()
	if snap.Status != StatusFinished || snap.Progress.LR == nil || *snap.Progress.LR != 0 {
		t.Fatalf("after the last epoch: status %s, lr %v", snap.Status, snap.Progress.LR)
	}
}

func TestEstimateItersPerEpoch(t *testing.T) {
	pt := func(e, i int) viz.Point { return viz.Point{Epoch: e, Iters: i} }
	cases := []struct {
		name string
		pts  []viz.Point
		want int
	}{
		{"empty", nil, 1},
		{"first epoch going on", []viz.Point{pt(1, 100), pt(1, 200)}, 200},
		{"finished epochs win", []viz.Point{pt(1, 100), pt(1, 1000), pt(2, 100), pt(2, 1200)}, 1000},
		{"resumed, repeated epoch", []viz.Point{pt(1, 500), pt(2, 300), pt(2, 100), pt(2, 500), pt(3, 100)}, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := estimateItersPerEpoch(c.pts); got != c.want {
				t.Errorf("got %d, want %d", got, c.want)
			}
		})
	}
}

func TestTotalEpochs(t *testing.T) {
	text := "----------------- Options ---------------\n" +
		"               batch_size: 1                             \n" +
		"                 n_epochs: 100                           \n" +
		"           n_epochs_decay: 50                            \t[default: 100]\n" +
		"                 dataroot: ./datasets/a:b                \n" +
		"----------------- End -------------------\n"
	if n := totalEpochs(text); n != 150 {
		t.Fatalf("total epochs %d", n)
	}
	if n := totalEpochs(""); n != 0 {
		t.Fatalf("total epochs of nothing: %d", n)
	}
	if n := totalEpochs("not an options file"); n != 0 {
		t.Fatalf("total epochs of a bad file: %d", n)
	}
}

func TestImagePathOK(t *testing.T) {
	cases := []struct {
		path string
		ok   bool
	}{
		{"web/images/epoch001_fake_B.png", true},
		{"live/real_A.png", true},
		{"web/images/x.JPG", true},
		{"", false},
		{"../secret.png", false},
		{"web/../../secret.png", false},
		{"web/images/../x.png", false},
		{"/etc/x.png", false},
		{"web//x.png", false},
		{"web/./x.png", false},
		{"web\\..\\x.png", false},
		{"live/.real_A.png.123.tmp", false},
		{".hidden/x.png", false},
		{"latest_net_G_A.pth", false},
		{"train_opt.txt", false},
		{"web/images/x.png\x00.txt", false},
	}
	for _, c := range cases {
		if _, ok := imagePathOK(c.path); ok != c.ok {
			t.Errorf("imagePathOK(%q) = %v, want %v", c.path, ok, c.ok)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:8097": true, "localhost:8097": true, "LOCALHOST": true, "[::1]:8097": true,
		"127.1.2.3": true, "app.localhost:80": true,
		"evil.example:8097": false, "10.0.0.1:8097": false, "": false, "localhost.evil.example": false,
	}
	for host, want := range cases {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
