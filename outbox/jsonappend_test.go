package outbox

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/core/coretest"
)

// TestHistoryEncodesAsEncodingJSON: a history record appended by hand is
// the JSON json.Marshal writes (byte for byte, but for the <, > and & that
// encoding/json escapes too), for strings of every kind: quotes,
// backslashes, control characters, invalid UTF-8, line separators.
func TestHistoryEncodesAsEncodingJSON(t *testing.T) {
	rng := coretest.NewRandom(1)
	str := rng.String
	at := time.Date(2026, 12, 2, 16, 4, 5, 123456789, time.UTC)
	cases := []History{
		{},
		{ID: 1, Target: "pd", Fingerprints: []string{}, Attempts: []Attempt{}},
		{ID: 18446744073709551615, Target: "slack", Fingerprints: []string{"0123456789abcdef", "fedcba9876543210"},
			AlertName: "HighLatency", Status: core.StatusResolved, Group: true, AcceptedAt: at, State: HistoryDelivered,
			Attempts:        []Attempt{{At: at, Outcome: "delivered", StatusCode: 200, Duration: "1.5ms"}, {At: at.In(time.FixedZone("x", 3600)), Outcome: "retry", Duration: "0s", Error: "503 Service Unavailable", SkipReason: "paused"}},
			AttemptsOmitted: 7},
	}
	for range 500 {
		h := History{ID: rng.Uint64(), Target: str(), Fingerprints: []string{str(), str()}, AlertName: str(),
			Status: core.AlertStatus(str()), Group: rng.IntN(2) == 0, AcceptedAt: at.Add(time.Duration(rng.Int64N(1e15))), State: str(),
			AttemptsOmitted: rng.IntN(3)}
		for range rng.IntN(3) {
			h.Attempts = append(h.Attempts, Attempt{At: at, Outcome: str(), StatusCode: rng.IntN(600), Duration: str(), Error: str(), SkipReason: str()})
		}
		cases = append(cases, h)
	}
	for i := range cases {
		h := &cases[i]
		got := h.appendJSON(nil)
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("case %d: not JSON: %s", i, got)
		}
		unescaped := coretest.Unescaped(want)
		if string(got) != unescaped {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, unescaped)
		}
		var a, b History
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("case %d reads back as\n%+v\nwant\n%+v", i, a, b)
		}
	}
}
