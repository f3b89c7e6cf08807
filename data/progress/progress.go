// Package progress makes the progress bars of cyclepix's dataset tools, all
// with one look, on a writer the caller chooses (usually stderr; nil means
// no bar, as in tests).
package progress

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar is a progress bar; a nil writer gives one that prints nothing.
type Bar = progressbar.ProgressBar

func options(w io.Writer, desc string) []progressbar.Option {
	if w == nil {
		w = io.Discard
	}
	return []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		// No spinner: it would need a goroutine of its own.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
		progressbar.OptionSetVisibility(w != io.Discard),
	}
}

// Count is a bar over n items; unit names them in the rate ("img/s").
func Count(w io.Writer, n int, desc, unit string) *Bar {
	return progressbar.NewOptions(n, append(options(w, desc), progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit), progressbar.OptionShowIts())...)
}

// Bytes is a bar over a transfer of total bytes (-1 when unknown).
func Bytes(w io.Writer, total int64, desc string) *Bar {
	return progressbar.NewOptions64(total, append(options(w, desc), progressbar.OptionShowBytes(true), progressbar.OptionShowCount())...)
}
