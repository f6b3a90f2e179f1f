package reports

import (
	"errors"
	"sync"

	"github.com/evalctl/evalctl/eval"
)

// Broadcast reads results once and gives each consumer its own Each over
// that one pass, every consumer on its own goroutine: all the per-answer
// reports of a run cost one read of the store, and format side by side.
// A consumer must call its Each at most once; one that stops early (an
// error) no longer holds the others back.
func Broadcast(results Each, consumers ...func(Each) error) error {
	chans := make([]chan eval.Record, len(consumers))
	errs := make([]error, len(consumers))
	var wg sync.WaitGroup
	for i, consume := range consumers {
		ch := make(chan eval.Record, 256)
		chans[i] = ch
		wg.Go(func() {
			defer func() {
				for range ch { // drain what the consumer did not read
				}
			}()
			errs[i] = consume(func(fn func(eval.Record) error) error {
				for r := range ch {
					if err := fn(r); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	err := results(func(r eval.Record) error {
		for _, ch := range chans {
			ch <- r
		}
		return nil
	})
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	return errors.Join(append([]error{err}, errs...)...)
}
