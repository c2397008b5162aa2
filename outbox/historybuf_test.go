package outbox

import (
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// historyRecords is what the history bucket holds: each record's value
// decoded, in key order.
func historyRecords(t *testing.T, s *Store) []History {
	t.Helper()
	var out []History
	err := s.view(func(tx *boltTx) error {
		return tx.Bucket(bucketHistory).ForEach(func(_, v []byte) error {
			h, ok := decodeHistory(v)
			if !ok {
				return errors.New("an unreadable history record")
			}
			out = append(out, h)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("reading the history bucket: %v", err)
	}
	return out
}

// recordDelivered records d delivered with an attempt answered code.
func recordDelivered(t *testing.T, s *Store, d *Delivery, code int) {
	t.Helper()
	if err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: FateDone, Attempt: &core.Outcome{Kind: core.OutcomeDelivered, StatusCode: code}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// TestHistoryLinesWaitThenAreWritten: an attempt's line is not in the
// file at once but within historyLinger, without a read asking for it;
// its outcome is durable at once.
func TestHistoryLinesWaitThenAreWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, StoreOptions{})
		d := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0].Delivery
		recordDelivered(t, s, d, 200)
		pending := 0
		if err := s.Load(func(*Candidate) { pending++ }); err != nil || pending != 0 {
			t.Fatalf("pending after a recorded success: %d (%v), want none", pending, err)
		}
		if got := historyRecords(t, s); len(got) != 0 {
			t.Fatalf("the history holds %d records as the outcome commits, want none before the linger", len(got))
		}
		time.Sleep(historyLinger + outcomeLinger)
		synctest.Wait()
		got := historyRecords(t, s)
		if len(got) != 1 || got[0].State != HistoryDelivered || len(got[0].Attempts) != 1 || got[0].Attempts[0].StatusCode != 200 {
			t.Fatalf("history after the linger = %+v, want the delivery delivered after one attempt", got)
		}
	})
}

// TestHistoryLinesKeepTheirOrder: the attempts of one delivery written in
// one batch, and across batches, end in the state of its last outcome
// with every attempt, first first.
func TestHistoryLinesKeepTheirOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, StoreOptions{})
		d := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0].Delivery
		record := func(fate Fate, code int) {
			t.Helper()
			d.Attempts++
			kind := core.OutcomeRetry
			if fate == FateDone {
				kind = core.OutcomeDelivered
			}
			if err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: fate, Attempt: &core.Outcome{Kind: kind, StatusCode: code}}); err != nil {
				t.Fatalf("Record: %v", err)
			}
		}
		record(FateRetry, 500)
		record(FateRetry, 502)
		time.Sleep(historyLinger + outcomeLinger)
		synctest.Wait()
		record(FateRetry, 503)
		record(FateDone, 200)
		got, err := s.Histories(HistoryQuery{})
		if err != nil {
			t.Fatalf("Histories: %v", err)
		}
		var codes []int
		if len(got) == 1 {
			for _, a := range got[0].Attempts {
				codes = append(codes, a.StatusCode)
			}
		}
		if len(got) != 1 || got[0].State != HistoryDelivered || len(codes) != 4 || codes[0] != 500 || codes[1] != 502 || codes[2] != 503 || codes[3] != 200 {
			t.Fatalf("history = %+v (codes %v), want one delivered delivery with 500, 502, 503, 200", got, codes)
		}
	})
}

// TestHistoryLinesSurviveClose: Close writes the lines waiting, and a
// reopened store shows them.
func TestHistoryLinesSurviveClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	d := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0].Delivery
	recordDelivered(t, s, d, 204)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("reopening the store: %v", err)
	}
	defer s.Close()
	if got := historyRecords(t, s); len(got) != 1 || got[0].State != HistoryDelivered {
		t.Fatalf("history after Close and reopening = %+v, want the delivered delivery", got)
	}
}

// TestHistoryLinesWrittenWhenTheBufferFills: the outcome whose line fills
// the buffer writes every line waiting, before the linger.
func TestHistoryLinesWrittenWhenTheBufferFills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, StoreOptions{})
		d := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0].Delivery
		// The buffer one line short of full, with lines of deliveries
		// that were never accepted: only their keys matter here.
		fill := make([]*historyEntry, maxHistoryLines-1)
		for i := range fill {
			other := *d
			other.ID = d.ID + 1 + uint64(i)
			fill[i] = newHistoryEntry(&other, &core.Outcome{Kind: core.OutcomeRetry}, FateRetry, time.Now())
		}
		if s.bufferHistory(fill) {
			t.Fatalf("the buffer says full at %d lines, want %d", len(fill), maxHistoryLines)
		}
		recordDelivered(t, s, d, 200)
		if got := len(historyRecords(t, s)); got != maxHistoryLines {
			t.Fatalf("the history holds %d records once the buffer filled, want %d at once", got, maxHistoryLines)
		}
	})
}

// TestHistoryLinesOfFailedOutcomesAreNotWritten: an outcome whose commit
// fails leaves no line.
func TestHistoryLinesOfFailedOutcomesAreNotWritten(t *testing.T) {
	s := newStore(t, StoreOptions{})
	d := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0].Delivery
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: FateDone, Attempt: &core.Outcome{Kind: core.OutcomeDelivered}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close = %v, want ErrClosed", err)
	}
	if n := len(s.hist.lines); n != 0 {
		t.Fatalf("%d lines wait for an outcome that was not recorded, want none", n)
	}
}
