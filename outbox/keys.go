package outbox

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The done and latest buckets key a delivery by what it carries first
// (the alert's fingerprint, or the group) and by its target last, so that
// the deliveries of one alert to its targets sit side by side: a commit
// of one alert's outcomes rewrites one leaf page of each bucket instead of
// one per target. A delivery's Slot and key name the target first (the
// JetStream store hashes them as they are); fileKey turns them around.
// Files written before this order are rewritten once when opened
// (migrateKeys).

// bucketMeta holds facts about the file itself.
var (
	bucketMeta  = []byte("meta")
	metaKeys    = []byte("key_order")
	keysByAlert = []byte("alert-first")
)

// fileKey is the bbolt key of a slot or dedup key k ("target\x00rest"):
// "rest\x00target". Target names hold no NUL byte (config checks them).
func fileKey(k string) []byte {
	target, rest, ok := strings.Cut(k, "\x00")
	if !ok {
		return []byte(k)
	}
	b := make([]byte, 0, len(k))
	b = append(b, rest...)
	b = append(b, 0)
	return append(b, target...)
}

// migrateKeys rewrites the done and latest buckets of a file written with
// target-first keys, once, marks the file's key order, and says how many
// records it rewrote.
func migrateKeys(tx *bolt.Tx) (int, error) {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	switch v := meta.Get(metaKeys); {
	case bytes.Equal(v, keysByAlert):
		return 0, nil
	case v != nil:
		return 0, fmt.Errorf("unknown key order %q (written by a newer am-fanout?)", v)
	}
	total := 0
	for _, name := range [][]byte{bucketDone, bucketLatest} {
		n, err := rewriteKeys(tx, name)
		if err != nil {
			return 0, fmt.Errorf("rewriting the %s bucket's keys: %w", name, err)
		}
		total += n
	}
	return total, meta.Put(metaKeys, keysByAlert)
}

// rewriteKeys turns every key of bucket name from target-first around
// and says how many it turned.
func rewriteKeys(tx *bolt.Tx, name []byte) (int, error) {
	b := tx.Bucket(name)
	if b == nil {
		// A new file's latest bucket: the slots are in their log.
		return 0, nil
	}
	type kv struct{ k, v []byte }
	var all []kv
	if err := b.ForEach(func(k, v []byte) error {
		all = append(all, kv{fileKey(string(k)), slices.Clone(v)})
		return nil
	}); err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, nil
	}
	if err := tx.DeleteBucket(name); err != nil {
		return 0, err
	}
	nb, err := tx.CreateBucket(name)
	if err != nil {
		return 0, err
	}
	slices.SortFunc(all, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	nb.FillPercent = 0.9 // written in order
	for _, e := range all {
		if err := nb.Put(e.k, e.v); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}
