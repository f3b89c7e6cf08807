package data

import (
	"fmt"
	"slices"
	"testing"
)

// TestLoaderShard checks DistributedSampler's split: the ranks' shards are
// disjoint and of equal length, cover the epoch (padded with its first
// samples), interleave the one-process order, and batch k of every rank
// together holds batch k of one process with World times the batch size.
func TestLoaderShard(t *testing.T) {
	root := unalignedRoot(t, 7, 3, 16)
	ds, err := New("unaligned", testOptions(root))
	if err != nil {
		t.Fatal(err)
	}
	const world, bs = 3, 2
	whole, err := NewLoader(ds, LoaderOptions{BatchSize: bs * world, Shuffle: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	full := whole.order(1)
	var shards [world][]*Batch
	for r := range world {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: bs, NumThreads: 2, Shuffle: true, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Shard(r, world); err != nil {
			t.Fatal(err)
		}
		if l.ShardLen() != 3 || l.NumBatches() != 2 || l.Len() != 7 {
			t.Fatalf("rank %d: ShardLen %d NumBatches %d Len %d, want 3 2 7", r, l.ShardLen(), l.NumBatches(), l.Len())
		}
		shards[r] = readEpoch(t, l, 1)
	}
	// Padded order: 7 samples + the first 2 again.
	padded := append(slices.Clone(full), full[:2]...)
	for r := range world {
		var got []int
		for _, b := range shards[r] {
			got = append(got, b.Indices...)
		}
		var want []int
		for i := r; i < len(padded); i += world {
			want = append(want, padded[i])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("rank %d: samples %v, want %v", r, got, want)
		}
	}
	// Batch 0 of all ranks = batch 0 of one process with batch size 6.
	var union []int
	for r := range world {
		union = append(union, shards[r][0].Indices...)
	}
	slices.Sort(union)
	first := slices.Clone(full[:bs*world])
	slices.Sort(first)
	if fmt.Sprint(union) != fmt.Sprint(first) {
		t.Errorf("first global batch %v, want %v", union, first)
	}
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 1})
	if err := l.Shard(3, 3); err == nil {
		t.Error("Shard(3, 3) did not fail")
	}
}
