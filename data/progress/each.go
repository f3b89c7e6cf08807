package progress

import (
	"context"
	"sync"
)

// Each runs fn(0) … fn(n-1) on workers goroutines, advancing bar (which
// may be nil) after each success, and stops handing out work at the first
// error or when ctx ends. It returns that first error, or ctx's.
func Each(ctx context.Context, n, workers int, bar *Bar, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					continue
				}
				if bar != nil {
					bar.Add(1)
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case ch <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
