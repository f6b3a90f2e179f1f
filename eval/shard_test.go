package eval_test

import (
	"fmt"
	"testing"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
)

func TestShardsPartitionRows(t *testing.T) {
	var rows []datasets.Row
	for i := range 1000 {
		rows = append(rows, datasets.Row{ID: fmt.Sprintf("q%d", i)})
	}
	for _, n := range []int{1, 2, 3, 7} {
		seen := map[string]int{}
		for i := 1; i <= n; i++ {
			part := eval.Shard{I: i, N: n}.Rows(rows)
			if len(part) < 1000/n*7/10 {
				t.Errorf("shard %d/%d has %d of 1000 rows: unbalanced", i, n, len(part))
			}
			for _, r := range part {
				seen[r.ID]++
			}
		}
		for _, r := range rows {
			if seen[r.ID] != 1 {
				t.Fatalf("n=%d: row %s in %d shards", n, r.ID, seen[r.ID])
			}
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want eval.Shard
		ok   bool
	}{
		{"1/1", eval.Shard{I: 1, N: 1}, true},
		{"2/4", eval.Shard{I: 2, N: 4}, true},
		{" 4/4 ", eval.Shard{I: 4, N: 4}, true},
		{"0/4", eval.Shard{}, false},
		{"5/4", eval.Shard{}, false},
		{"2", eval.Shard{}, false},
		{"a/b", eval.Shard{}, false},
		{"1/0", eval.Shard{}, false},
	} {
		got, err := eval.ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
	}
}
