package benchmarks

import (
	"fmt"
	"strings"
	"testing"
)

// TestCheckAnswer: the benchmark's check of a webhook's answer passes an
// answer in which every delivery of every alert was accepted, and names
// the first that was not, or the count that is wrong, otherwise.
func TestCheckAnswer(t *testing.T) {
	answer := func(states ...string) []byte {
		var ds []string
		for i, st := range states {
			ds = append(ds, fmt.Sprintf(`{"target":"target-%d","id":%d,"state":%q}`, i, i+1, st))
		}
		return []byte(`{"status":"accepted","alerts":[{"fingerprint":"f1","alertname":"Load","status":"firing","deliveries":[` + strings.Join(ds, ",") + `]}]}`)
	}
	all := make([]string, targets)
	for i := range all {
		all[i] = "accepted"
	}
	if err := check(answer(all...), 1); err != nil {
		t.Errorf("every delivery accepted: %v", err)
	}
	stale := append([]string(nil), all...)
	stale[3] = "stale"
	if err := check(answer(stale...), 1); err == nil || !strings.Contains(err.Error(), "target-3: stale") {
		t.Errorf("one delivery stale: %v, want an error naming it", err)
	}
	if err := check(answer(all[1:]...), 1); err == nil || !strings.Contains(err.Error(), "9 deliveries") {
		t.Errorf("a delivery missing: %v, want an error counting them", err)
	}
	if err := check(answer(all...), 2); err == nil || !strings.Contains(err.Error(), "1 alerts, want 2") {
		t.Errorf("an alert missing: %v, want an error counting them", err)
	}
	if err := check([]byte(`{"alerts":`), 1); err == nil {
		t.Error("a cut answer passes")
	}
}
