package core

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEnrichedAlertEncodesAsEncodingJSON: an accepted alert appended by
// hand is the JSON json.Marshal writes (but for the <, > and & that
// encoding/json escapes too), with maps nil, empty and of many keys, and
// the optional fields set or not; and it decodes to the same alert.
func TestEnrichedAlertEncodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "Zz9", `"`, `\`, "\n", "\x00", "\x1f", "é", "日本", "\u2028", "\xff", "<", ">", "&", " ", "🔥", "_"}
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
		for range rng.IntN(40) {
			m[str()] = str()
		}
		return m
	}
	at := time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC)
	cases := []EnrichedAlert{{}}
	for range 500 {
		a := EnrichedAlert{
			Alert: Alert{Fingerprint: str(), Status: AlertStatus(str()), Labels: strMap(), Annotations: strMap(),
				StartsAt: at.Add(time.Duration(rng.Int64N(1e15))), EndsAt: at.In(time.FixedZone("x", -7200)), GeneratorURL: str()},
			Group: Group{Receiver: str(), Status: AlertStatus(str()), GroupKey: str(), GroupLabels: strMap(),
				CommonLabels: strMap(), CommonAnnotations: strMap(), ExternalURL: str(), TruncatedAlerts: rng.Uint64N(3) * rng.Uint64()},
			ReceivedAt: at.Add(-time.Duration(rng.Int64N(1e12))),
		}
		if rng.IntN(2) == 0 {
			a.Classification = Classification{Severity: Severity(str()), RawSeverity: str(), Priority: str(), Team: str(), Classifier: rng.IntN(2) == 0}
			for range rng.IntN(3) {
				a.Classification.Rules = append(a.Classification.Rules, str())
			}
			for range rng.IntN(3) {
				a.Links = append(a.Links, Link{Name: str(), URL: str()})
			}
		}
		cases = append(cases, a)
	}
	for i := range cases {
		a := &cases[i]
		got := a.AppendJSON(nil)
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want))
		if string(got) != unescaped {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, unescaped)
		}
		var x, y EnrichedAlert
		if err := json.Unmarshal(got, &x); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := json.Unmarshal(want, &y); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("case %d: decodes to\n%+v\nwant\n%+v", i, x, y)
		}
	}
}
