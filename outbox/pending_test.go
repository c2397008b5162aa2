package outbox

import (
	"errors"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// TestAcceptDecidesEachState: what Accept decides for a delivery of alert
// "a" to t1, by what the store holds of the alert already.
func TestAcceptDecidesEachState(t *testing.T) {
	eachStore(t, testAcceptDecidesEachState)
}

func testAcceptDecidesEachState(t *testing.T, fresh func(t *testing.T) func() contractStore) {
	done := func(t *testing.T, s contractStore, c *Candidate) {
		t.Helper()
		if err := s.Record(time.Now(), &Settlement{Delivery: c.Delivery, Fate: FateDone}); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	for _, tc := range []struct {
		name      string
		first     *core.EnrichedAlert
		delivered bool // the first is done before the second comes
		second    *core.EnrichedAlert
		want      string
		wantOld   bool // the second supersedes the pending first
	}{
		{"a resend while pending is already pending", alert("a", core.StatusFiring, 0), false, alert("a", core.StatusFiring, 0), StateAlreadyPending, false},
		{"a resend after delivery is already delivered", alert("a", core.StatusFiring, 0), true, alert("a", core.StatusFiring, 0), StateAlreadyDelivered, false},
		{"an older firing is stale", alert("a", core.StatusFiring, 5), false, alert("a", core.StatusFiring, 0), StateStale, false},
		{"a newer state supersedes the pending one", alert("a", core.StatusFiring, 0), false, alert("a", core.StatusResolved, 0), StateAccepted, true},
		{"a newer state after delivery is accepted", alert("a", core.StatusFiring, 0), true, alert("a", core.StatusResolved, 0), StateAccepted, false},
		{"another alert is accepted", alert("a", core.StatusFiring, 0), false, alert("b", core.StatusFiring, 0), StateAccepted, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t)()
			first := accept(t, s, "t1", tc.first)[0]
			if first.State != StateAccepted || first.Delivery.ID == 0 || first.Seq == 0 {
				t.Fatalf("the first delivery: state %q, id %d, seq %d; want accepted with an id and a commit order", first.State, first.Delivery.ID, first.Seq)
			}
			if tc.delivered {
				done(t, s, first)
			}
			second := accept(t, s, "t1", tc.second)[0]
			if second.State != tc.want {
				t.Errorf("the second delivery is %q, want %q", second.State, tc.want)
			}
			if gotOld := second.Old == first.Delivery.ID; gotOld != tc.wantOld {
				t.Errorf("the second supersedes %d, want it to supersede the first (%d): %v", second.Old, first.Delivery.ID, tc.wantOld)
			}
			if second.State == StateAccepted && second.Seq <= first.Seq {
				t.Errorf("commit order %d after %d, want it later", second.Seq, first.Seq)
			}
			if tc.wantOld {
				if d, err := s.Read(first.Delivery.ID); d != nil || err != nil {
					t.Errorf("the superseded delivery reads as %+v, %v; want it no longer pending", d, err)
				}
			}
		})
	}
}

// TestRecordFates: a retry is updated in place, a done delivery leaves
// the pending ones, a dead one becomes a dead letter with its hand-over
// accepted in the same commit; each attempt goes into the history, and
// a superseded delivery is neither written back nor buried.
func TestRecordFates(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func(t *testing.T) func() contractStore) { testRecordFates(t, fresh(t)()) })
}

func testRecordFates(t *testing.T, s contractStore) {
	c := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0]
	d := c.Delivery
	failed := &core.Outcome{Kind: core.OutcomeRetry, StatusCode: 503, Err: errors.New("unavailable")}
	d.Attempts, d.LastError = 1, "unavailable"
	if err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: FateRetry, Attempt: failed}); err != nil {
		t.Fatalf("Record retry: %v", err)
	}
	if got, err := s.Read(d.ID); err != nil || got == nil || got.Attempts != 1 || got.LastError != "unavailable" {
		t.Fatalf("after a retry the pending delivery reads as %+v, %v; want its attempt and error", got, err)
	}

	d.Attempts, d.DeadAt, d.DeadReason = 2, time.Now(), "permanent failure"
	fd := &Delivery{Target: "fb", Alert: d.Alert, FallbackFrom: "t1", AcceptedAt: time.Now(), NextAttempt: time.Now()}
	hand := NewCandidate(fd)
	d.FallbackTo = []string{"fb"}
	dead := &core.Outcome{Kind: core.OutcomePermanent, StatusCode: 400, Err: errors.New("bad payload")}
	if err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: FateDead, Attempt: dead, Handover: []*Candidate{hand}}); err != nil {
		t.Fatalf("Record dead: %v", err)
	}
	if got, _ := s.Read(d.ID); got != nil {
		t.Errorf("a dead letter is still pending: %+v", got)
	}
	letters, _, err := s.DeadLetters(Selection{Target: "t1"}, Page{})
	if err != nil || len(letters) != 1 || letters[0].Reason != "permanent failure" || len(letters[0].HandedTo) != 1 {
		t.Errorf("dead letters %+v, %v; want the one, handed to fb", letters, err)
	}
	if hand.State != StateAccepted || hand.Delivery.ID == 0 {
		t.Errorf("the hand-over is %q with id %d, want accepted in the burying commit", hand.State, hand.Delivery.ID)
	}
	hs, err := s.Histories(HistoryQuery{Target: "t1"})
	if err != nil || len(hs) != 1 || hs[0].State != HistoryDead || len(hs[0].Attempts) != 2 || hs[0].Attempts[1].StatusCode != 400 {
		t.Errorf("history %+v, %v; want the delivery dead after two attempts, the last a 400", hs, err)
	}

	// The hand-over is superseded by a newer state before its attempt
	// settles: it is not buried, and its own hand-over is not accepted.
	newer := accept(t, s, "fb", alert("a", core.StatusResolved, 0))[0]
	if newer.Old != hand.Delivery.ID {
		t.Fatalf("the resolve supersedes %d, want the hand-over %d", newer.Old, hand.Delivery.ID)
	}
	again := NewCandidate(&Delivery{Target: "other", Alert: fd.Alert, AcceptedAt: time.Now(), NextAttempt: time.Now()})
	fd.DeadAt, fd.DeadReason = time.Now(), "permanent failure"
	if err := s.Record(time.Now(), &Settlement{Delivery: fd, Fate: FateDead, Handover: []*Candidate{again}}); err != nil {
		t.Fatalf("Record of a superseded delivery: %v", err)
	}
	if letters, _, _ := s.DeadLetters(Selection{Target: "fb"}, Page{}); len(letters) != 0 || again.State != "" {
		t.Errorf("a superseded delivery was buried (%+v) or handed over (%q)", letters, again.State)
	}

	if err := s.Record(time.Now(), &Settlement{Delivery: newer.Delivery, Fate: FateDone}); err != nil {
		t.Fatalf("Record done: %v", err)
	}
	n := 0
	if err := s.Load(func(*Candidate) { n++ }); err != nil || n != 0 {
		t.Errorf("%d pending after every delivery settled (%v), want none", n, err)
	}
}

// TestLoadInAcceptanceOrder: after a reopen, Load hands the pending
// deliveries over oldest first, numbered in that order, each with its
// record's size.
func TestLoadInAcceptanceOrder(t *testing.T) {
	eachStore(t, testLoadInAcceptanceOrder)
}

func testLoadInAcceptanceOrder(t *testing.T, fresh func(t *testing.T) func() contractStore) {
	open := fresh(t)
	s := open()
	cands := accept(t, s, "t1", alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	var got []*Candidate
	if err := s.Load(func(c *Candidate) { got = append(got, c) }); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(got) != len(cands) {
		t.Fatalf("Load gave %d deliveries, want %d", len(got), len(cands))
	}
	for i, c := range got {
		if c.Delivery.ID != cands[i].Delivery.ID || c.Delivery.Alert.Alert.Fingerprint != cands[i].Delivery.Alert.Alert.Fingerprint ||
			c.Size() != cands[i].Size() || c.State != StateAccepted || (i > 0 && c.Seq <= got[i-1].Seq) {
			t.Errorf("delivery %d loaded as id %d (%s), %d bytes, %q, seq %d; want id %d (%s), %d bytes, accepted, after the one before",
				i, c.Delivery.ID, c.Delivery.Alert.Alert.Fingerprint, c.Size(), c.State, c.Seq,
				cands[i].Delivery.ID, cands[i].Delivery.Alert.Alert.Fingerprint, cands[i].Size())
		}
	}
}

// TestDeadLettersReplayAndPurge: a dead letter is listed by target and
// page, replayed as a pending delivery (once: the replayed one is no
// longer a dead letter), and purged.
func TestDeadLettersReplayAndPurge(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func(t *testing.T) func() contractStore) {
		s := fresh(t)()
		var ids []uint64
		for _, fp := range []string{"a", "b", "c"} {
			d := accept(t, s, "t1", alert(fp, core.StatusFiring, 0))[0].Delivery
			d.DeadAt, d.DeadReason = time.Now(), "permanent failure"
			if err := s.Record(time.Now(), &Settlement{Delivery: d, Fate: FateDead}); err != nil {
				t.Fatalf("Record dead: %v", err)
			}
		}
		letters, next, err := s.DeadLetters(Selection{Target: "t1"}, Page{Limit: 2})
		if err != nil || len(letters) != 2 || next != letters[1].ID {
			t.Fatalf("first page %+v, next %d, %v; want two letters and the next page after the second", letters, next, err)
		}
		for _, l := range letters {
			ids = append(ids, l.ID)
		}
		rest, next, err := s.DeadLetters(Selection{Target: "t1"}, Page{After: next, Limit: 2})
		if err != nil || len(rest) != 1 || next != 0 || rest[0].Fingerprint != "c" {
			t.Fatalf("second page %+v, next %d, %v; want the third letter alone", rest, next, err)
		}
		out, back, err := s.Replay(Selection{ID: ids[0]}, time.Now())
		if err != nil || len(out) != 1 || out[0].State != StateReplayed || len(back) != 1 {
			t.Fatalf("Replay = %+v, %d candidates, %v; want the letter replayed", out, len(back), err)
		}
		if d, err := s.Read(back[0].Delivery.ID); err != nil || d == nil || d.Alert.Alert.Fingerprint != "a" || d.Attempts != 0 {
			t.Errorf("the replayed delivery reads as %+v, %v; want a pending, with no attempts", d, err)
		}
		if out, _, _ := s.Replay(Selection{ID: ids[0]}, time.Now()); len(out) != 1 || out[0].State != StateNotFound {
			t.Errorf("replaying it again = %+v, want not found", out)
		}
		if n, err := s.Purge(Selection{Target: "t1"}); err != nil || n != 2 {
			t.Errorf("Purge = %d, %v; want the 2 letters left", n, err)
		}
		if letters, _, _ := s.DeadLetters(Selection{}, Page{}); len(letters) != 0 {
			t.Errorf("after the purge %d dead letters are left", len(letters))
		}
	})
}
