package progress

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestEach(t *testing.T) {
	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		fail    int // index that fails, -1 for none
		wantErr error
		wantAll bool
	}{
		{"all succeed", context.Background(), -1, nil, true},
		{"first error stops the rest", context.Background(), 3, boom, false},
		{"cancelled context", cancelled, -1, context.Canceled, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var done atomic.Int64
			err := Each(c.ctx, 1000, 4, nil, func(i int) error {
				if i == c.fail {
					return boom
				}
				done.Add(1)
				return nil
			})
			if !errors.Is(err, c.wantErr) && !(err == nil && c.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if all := done.Load() == 1000; all != c.wantAll {
				t.Fatalf("%d of 1000 ran", done.Load())
			}
		})
	}
}
