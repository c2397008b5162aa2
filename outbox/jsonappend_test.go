package outbox

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// TestHistoryEncodesAsEncodingJSON: a history record appended by hand is
// the JSON json.Marshal writes (byte for byte, but for the <, > and & that
// encoding/json escapes too), for strings of every kind: quotes,
// backslashes, control characters, invalid UTF-8, line separators.
func TestHistoryEncodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Zz9", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "日本", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "<", ">", "&", " ", "🔥"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
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
		unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want))
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
