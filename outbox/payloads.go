package outbox

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The shared alerts. An alert that a notification fans out to ten
// targets is ten pending deliveries that differ in their target only;
// written each with its alert, the file's pending records carried the
// alert's JSON ten times, and each copy went through the write-ahead
// log, the file's pages and the deletes at the end (most of each
// pending record; with it once, BenchmarkEndToEnd's ten alerts a
// notification to ten targets left a fifth less in the file:
// BENCHMARKS.md). So the file store writes the alert once, into the
// payloads bucket, and the pending record of each of its deliveries
// names it: a shared record. The last of its deliveries to
// leave the pending bucket deletes it, in the same transaction.
//
// A payload's key is the id of the first delivery accepted with it
// (8 bytes), which no other payload can have; its value the alert's
// JSON, as Delivery's alert field holds it.
var bucketPayloads = []byte("payloads")

// A shared record is sharedRecord, the payload's key, and the JSON of
// the delivery without its alert. Any other record is the delivery's
// JSON, which begins with '{'. A store file that holds shared records is
// not readable by versions before them (docs/outbox.md).
const (
	sharedRecord = 0x01
	sharedHeader = 1 + 8
)

// payload is an alert's JSON that the candidates of its deliveries
// share, and how many of them there are: an alert that goes to one
// target is written whole in its one record, where a payload would add a
// write and a bucket's pages to the commit and save nothing.
type payload struct {
	json []byte
	uses int
}

// sharedRef returns the payload key a pending record names, if it is a
// shared one.
func sharedRef(v []byte) (uint64, bool) {
	if len(v) < sharedHeader || v[0] != sharedRecord {
		return 0, false
	}
	return decodeID(v[1:sharedHeader]), true
}

// decodePending decodes the pending record v into d, its alert read from
// payloads when the record shares it, and returns the size of the record
// with its alert in it, which counts against the bounds of pending
// deliveries (Candidate.Size).
func decodePending(v []byte, payloads seeker, d *Delivery) (int, error) {
	if len(v) == 0 || v[0] != sharedRecord {
		return len(v), json.Unmarshal(v, d)
	}
	if len(v) < sharedHeader {
		return 0, fmt.Errorf("a shared record of %d bytes, shorter than its header", len(v))
	}
	p := payloads.get(v[1:sharedHeader])
	if p == nil {
		return 0, fmt.Errorf("its alert (payload %d) is missing", decodeID(v[1:sharedHeader]))
	}
	if err := json.Unmarshal(v[sharedHeader:], d); err != nil {
		return 0, err
	}
	return inlineSize(len(v)-sharedHeader, len(p)), json.Unmarshal(p, &d.Alert)
}

// inlineSize is the size of a record of rec bytes without its alert of
// alert bytes once the alert is in it: `{"alert":`, the alert and a
// comma more.
func inlineSize(rec, alert int) int { return rec + alert + len(`"alert":,`) }

// payloadRefs counts the pending records that name each payload, so
// that the last one to go deletes it. The counts live in memory only:
// opening the store counts them from the pending records
// (loadPayloadRefs). The committer's write transactions change them
// through their own changes, which end applies when the transaction's
// changes are kept and drops when they are not, as slotIndex's. Only the
// committer reads or writes them.
type payloadRefs struct {
	n  map[uint64]int32
	tx map[uint64]int32
}

func newPayloadRefs() *payloadRefs {
	return &payloadRefs{n: map[uint64]int32{}, tx: map[uint64]int32{}}
}

// add changes the count of ref by delta in the running transaction and
// returns the count now.
func (r *payloadRefs) add(ref uint64, delta int32) int32 {
	r.tx[ref] += delta
	return r.n[ref] + r.tx[ref]
}

// end applies the transaction's changes if they are kept.
func (r *payloadRefs) end(kept bool) {
	if kept {
		for ref, delta := range r.tx {
			if n := r.n[ref] + delta; n > 0 {
				r.n[ref] = n
			} else {
				delete(r.n, ref)
			}
		}
	}
	if len(r.tx) > 256 {
		r.tx = map[uint64]int32{}
	} else {
		clear(r.tx)
	}
}

// loadPayloadRefs counts the pending records of db that name each
// payload, and deletes the payloads none names (none should be: the
// last record's delete takes its payload along).
func loadPayloadRefs(db *bolt.DB) (*payloadRefs, int, error) {
	r := newPayloadRefs()
	orphans := 0
	err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPending).ForEach(func(_, v []byte) error {
			if ref, ok := sharedRef(v); ok {
				r.n[ref]++
			}
			return nil
		}); err != nil {
			return err
		}
		var gone [][]byte
		b := tx.Bucket(bucketPayloads)
		if err := b.ForEach(func(k, _ []byte) error {
			if r.n[decodeID(k)] == 0 {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		orphans = len(gone)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("counting the shared alerts' deliveries: %w", err)
	}
	return r, orphans, nil
}
