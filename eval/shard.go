package eval

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/evalctl/evalctl/datasets"
)

// Shard is the i-th of n parts of a dataset (1 ≤ I ≤ N), for runs split over
// machines. A row belongs to one shard, chosen by a hash of its id: the
// split is deterministic, balanced on average, and does not move rows when
// rows are added elsewhere in the file.
type Shard struct{ I, N int }

// ParseShard parses "i/n".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 1 ≤ i ≤ n, e.g. 2/4", s)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Has reports whether the row with id belongs to the shard.
func (s Shard) Has(id string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64()%uint64(s.N)) == s.I-1
}

// Rows returns the rows of the shard, in their order.
func (s Shard) Rows(rows []datasets.Row) []datasets.Row {
	var out []datasets.Row
	for _, r := range rows {
		if s.Has(r.ID) {
			out = append(out, r)
		}
	}
	return out
}
