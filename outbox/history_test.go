package outbox

import (
	"testing"
)

func TestHistoryKeepsFirstAndLatestAttempts(t *testing.T) {
	var h History
	for i := range maxHistoryAttempts + 5 {
		h.add(Attempt{StatusCode: 500 + i})
	}
	if len(h.Attempts) != maxHistoryAttempts || h.Attempts[0].StatusCode != 500 ||
		h.Attempts[len(h.Attempts)-1].StatusCode != 500+maxHistoryAttempts+4 || h.AttemptsOmitted != 5 {
		t.Errorf("attempts %d (first %d, last %d), omitted %d", len(h.Attempts), h.Attempts[0].StatusCode,
			h.Attempts[len(h.Attempts)-1].StatusCode, h.AttemptsOmitted)
	}
}
