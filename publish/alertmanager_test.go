package publish

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// The appended webhook body is the JSON json.Marshal writes for
// AlertmanagerMessage (but for the <, > and & that encoding/json also
// escapes), with maps nil (sent as {}), empty and of many keys, and it
// decodes to the same message.
func TestAppendAlertmanagerMessageEncodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "Zz9", `"`, `\`, "\n", "\x00", "é", "日本", "\u2028", "\xff", "<", ">", "&", " ", "🔥"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	strMap := func() map[string]string {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for range rng.IntN(30) {
			m[str()] = str()
		}
		return m
	}
	at := time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC)
	cases := []core.EnrichedAlert{{}}
	for range 300 {
		cases = append(cases, core.EnrichedAlert{
			Alert: core.Alert{Fingerprint: str(), Status: core.AlertStatus(str()), Labels: strMap(), Annotations: strMap(),
				StartsAt: at.Add(time.Duration(rng.Int64N(1e15))), EndsAt: at.In(time.FixedZone("x", 3600)), GeneratorURL: str()},
			Group: core.Group{Receiver: str(), GroupKey: str(), GroupLabels: strMap(), CommonLabels: strMap(), ExternalURL: str(), TruncatedAlerts: 3},
		})
	}
	for i := range cases {
		a := &cases[i]
		got := AppendAlertmanagerMessage(nil, a)
		want, err := json.Marshal(AlertmanagerMessage(a))
		if err != nil {
			t.Fatal(err)
		}
		unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want))
		if string(got) != unescaped {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, unescaped)
		}
		var x, y AlertmanagerPayload
		if err := json.Unmarshal(got, &x); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := json.Unmarshal(want, &y); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("case %d: decodes to %+v, want %+v", i, x, y)
		}
	}
}
