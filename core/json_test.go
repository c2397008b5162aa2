package core_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/core/coretest"
)

// TestEnrichedAlertEncodesAsEncodingJSON: an enriched alert appended by
// hand is the JSON json.Marshal writes (but for the <, > and & that
// encoding/json escapes too), with maps nil, empty and of many keys, and
// the optional fields set or not; and it decodes to the same alert.
func TestEnrichedAlertEncodesAsEncodingJSON(t *testing.T) {
	r := coretest.NewRandom(3)
	cases := []core.EnrichedAlert{{}}
	for range 500 {
		cases = append(cases, r.Alert())
	}
	for i := range cases {
		a := &cases[i]
		got := a.AppendJSON(nil)
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != coretest.Unescaped(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, coretest.Unescaped(want))
		}
		var x, y core.EnrichedAlert
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
