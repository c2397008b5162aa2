// Package coretest makes domain values for tests.
package coretest

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// pieces are what random strings are made of: quotes, backslashes,
// control characters, multi-byte and invalid UTF-8, line separators and
// the characters encoding/json escapes for HTML.
var pieces = []string{"a", "Zz9", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "日本", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "<", ">", "&", " ", "🔥", "_"}

// Random makes random values from a seeded source, which it also is.
type Random struct{ *rand.Rand }

// NewRandom is a Random seeded with seed.
func NewRandom(seed uint64) *Random { return &Random{rand.New(rand.NewPCG(seed, seed+1))} }

// String is a short string of pieces, possibly empty.
func (r *Random) String() string {
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// Map is nil, empty, or holds up to 40 random keys.
func (r *Random) Map() map[string]string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range r.IntN(40) {
		m[r.String()] = r.String()
	}
	return m
}

// Alert is an enriched alert of random strings and maps, with its
// classification and links set or not.
func (r *Random) Alert() core.EnrichedAlert {
	at := time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC)
	a := core.EnrichedAlert{
		Alert: core.Alert{Fingerprint: r.String(), Status: core.AlertStatus(r.String()), Labels: r.Map(), Annotations: r.Map(),
			StartsAt: at.Add(time.Duration(r.Int64N(1e15))), EndsAt: at.In(time.FixedZone("x", -7200)), GeneratorURL: r.String()},
		Group: core.Group{Receiver: r.String(), Status: core.AlertStatus(r.String()), GroupKey: r.String(), GroupLabels: r.Map(),
			CommonLabels: r.Map(), CommonAnnotations: r.Map(), ExternalURL: r.String(), TruncatedAlerts: r.Uint64N(3) * r.Uint64()},
		ReceivedAt: at.Add(-time.Duration(r.Int64N(1e12))),
	}
	if r.IntN(2) == 0 {
		a.Classification = core.Classification{Severity: core.Severity(r.String()), RawSeverity: r.String(), Priority: r.String(), Team: r.String(), Classifier: r.IntN(2) == 0}
		for range r.IntN(3) {
			a.Classification.Rules = append(a.Classification.Rules, r.String())
		}
		for range r.IntN(3) {
			a.Links = append(a.Links, core.Link{Name: r.String(), URL: r.String()})
		}
	}
	return a
}

// Unescaped is JSON as encoding/json writes it with the HTML characters
// it escapes (<, > and &) written as they are, as the appenders write
// them.
func Unescaped(encoded []byte) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(encoded))
}
