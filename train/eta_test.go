package train

import (
	"testing"
	"time"
)

func TestFormatETA(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {1400 * time.Millisecond, "1s"}, {59 * time.Second, "59s"}, {750 * time.Second, "12m30s"},
		{time.Hour, "1h00m"}, {3*time.Hour + 5*time.Minute + 40*time.Second, "3h05m"}, {142 * time.Hour, "142h00m"}} {
		if got := FormatETA(c.d); got != c.want {
			t.Errorf("FormatETA(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
