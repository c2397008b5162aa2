package fanout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// firing is alert "a" firing since start after the epoch.
func firing(start time.Duration) *core.EnrichedAlert {
	return &core.EnrichedAlert{Alert: core.Alert{
		Fingerprint: "a", Status: core.StatusFiring, StartsAt: epoch.Add(start),
		Labels: map[string]string{"alertname": "Testa"},
	}}
}

// resolved is alert "a" resolved, with the start and end (after the epoch)
// Alertmanager sends.
func resolved(start, end time.Duration) *core.EnrichedAlert {
	a := firing(start)
	a.Alert.Status, a.Alert.EndsAt = core.StatusResolved, epoch.Add(end)
	return a
}

func stateOf(a *core.EnrichedAlert) string {
	s := fmt.Sprintf("%s@%v", a.Alert.Status, a.Alert.StartsAt.Sub(epoch))
	if a.Alert.Status == core.StatusResolved {
		s += fmt.Sprintf("-%v", a.Alert.EndsAt.Sub(epoch))
	}
	return s
}

func describeAll(as []core.EnrichedAlert) []string {
	out := make([]string, len(as))
	for i := range as {
		out[i] = stateOf(&as[i])
	}
	return out
}

// orderStep is one notification of alert "a" and what Accept must answer.
type orderStep struct {
	alert   *core.EnrichedAlert
	want    string
	restart bool // close and reopen the pipeline before this step
}

// TestOrderOfAnAlertsStates: the states of one alert, each delivered
// before the next arrives, are accepted or refused as stale by the
// episode they belong to, whatever Alertmanager did to a resolve's start.
// The dedup window is a nanosecond, so that only the order decides.
func TestOrderOfAnAlertsStates(t *testing.T) {
	const m = time.Minute
	ok, stale := outbox.StateAccepted, outbox.StateStale
	for _, tc := range []struct {
		name  string
		steps []orderStep
	}{
		{"a resolve that keeps the firing's start ends it", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(10*m, 12*m), want: ok}}},
		{"a resolve posted with only an end before the firing's start ends it (amtool)", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(5*m, 5*m), want: ok}}},
		{"a resolve whose start read back from the API lost the firing's sub-millisecond part ends it", []orderStep{
			{alert: firing(10*m + 400*time.Microsecond), want: ok}, {alert: resolved(10*m, 12*m), want: ok}}},
		{"a late duplicate firing after its resolve is stale", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(10*m, 12*m), want: ok}, {alert: firing(10 * m), want: stale}}},
		{"a late duplicate firing after an amtool resolve is stale", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(5*m, 5*m), want: ok}, {alert: firing(10 * m), want: stale}}},
		{"a late duplicate firing after an amtool resolve is stale across a restart", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(5*m, 5*m), want: ok}, {alert: firing(10 * m), want: stale, restart: true}}},
		{"a late resolve of an older episode after a newer episode's firing is stale", []orderStep{
			{alert: firing(0), want: ok}, {alert: firing(20 * m), want: ok}, {alert: resolved(0, 5*m), want: stale}}},
		{"a late resolve of an older episode, its start moved back, is stale across a restart", []orderStep{
			{alert: firing(0), want: ok}, {alert: firing(20 * m), want: ok}, {alert: resolved(-time.Second, 5*m), want: stale, restart: true}}},
		{"a late resend of an older episode's resolve after a newer episode's firing is stale", []orderStep{
			{alert: firing(0), want: ok}, {alert: resolved(0, 5*m), want: ok}, {alert: firing(20 * m), want: ok},
			{alert: resolved(0, 5*m), want: stale}}},
		{"a new episode after a resolve is delivered", []orderStep{
			{alert: firing(0), want: ok}, {alert: resolved(0, 5*m), want: ok}, {alert: firing(20 * m), want: ok},
			{alert: resolved(20*m, 25*m), want: ok}}},
		{"a new episode after an amtool resolve is delivered", []orderStep{
			{alert: firing(10 * m), want: ok}, {alert: resolved(5*m, 5*m), want: ok}, {alert: firing(20 * m), want: ok},
			{alert: resolved(15*m, 15*m), want: ok}}},
		{"a resolve of an episode whose firing never came is delivered", []orderStep{
			{alert: firing(0), want: ok}, {alert: resolved(0, 5*m), want: ok}, {alert: resolved(20*m, 25*m), want: ok}}},
		{"a firing that arrives after its episode's resolve is stale", []orderStep{
			{alert: resolved(10*m, 12*m), want: ok}, {alert: firing(10 * m), want: stale}}},
		{"a firing that arrives after a resolve with its start read back from the API is stale", []orderStep{
			{alert: resolved(10*m, 12*m), want: ok}, {alert: firing(10*m + 400*time.Microsecond), want: stale}}},
		{"an older resolve of the episode after its newer resolve is stale", []orderStep{
			{alert: firing(0), want: ok}, {alert: resolved(0, 5*m), want: ok}, {alert: resolved(-time.Second, 4*m), want: stale}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t)
			h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
			h.close()
			h.storeOpts = outbox.StoreOptions{DedupWindow: time.Nanosecond}
			h.open()
			var want []string
			for i, s := range tc.steps {
				if s.restart {
					h.close()
					h.open()
				}
				out := h.accept(true, s.alert)
				if got := out[0].Deliveries[0].State; got != s.want {
					t.Errorf("step %d, %s: %q, want %q", i+1, stateOf(s.alert), got, s.want)
				}
				if s.want == ok {
					want = append(want, stateOf(s.alert))
				}
			}
			if got := describeAll(tg.received()); !slices.Equal(got, want) {
				t.Errorf("target got %v, want %v", got, want)
			}
		})
	}
}
