package publish

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/core/coretest"
)

// The appended webhook body is the JSON json.Marshal writes for
// AlertmanagerMessage (but for the <, > and & that encoding/json also
// escapes), with maps nil (sent as {}), empty and of many keys, and it
// decodes to the same message.
func TestAppendAlertmanagerMessageEncodesAsEncodingJSON(t *testing.T) {
	r := coretest.NewRandom(5)
	cases := []core.EnrichedAlert{{}}
	for range 300 {
		cases = append(cases, r.Alert())
	}
	for i := range cases {
		a := &cases[i]
		got := AppendAlertmanagerMessage(nil, a)
		want, err := json.Marshal(AlertmanagerMessage(a))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != coretest.Unescaped(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, coretest.Unescaped(want))
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
