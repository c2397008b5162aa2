package fanout

import (
	"errors"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/core"
)

// TestDeliveriesReadTheMetrics: the per-target counts of the status API
// are the success and failure counters, summed over error types; skips
// are not counted, and a deleted target is gone.
func TestDeliveriesReadTheMetrics(t *testing.T) {
	ok := func(name string) *core.TargetPublishResult {
		return &core.TargetPublishResult{TargetName: name, TargetType: "webhook", Success: true}
	}
	failed := func(name string, err error) *core.TargetPublishResult {
		return &core.TargetPublishResult{TargetName: name, TargetType: "webhook", Error: err}
	}
	skipped := func(name string) *core.TargetPublishResult {
		return &core.TargetPublishResult{TargetName: name, TargetType: "webhook", Skipped: true, SkipReason: core.SkipCircuitOpen}
	}
	for _, tc := range []struct {
		name    string
		init    []string
		results []*core.TargetPublishResult
		deleted []string
		want    map[string]Deliveries
	}{
		{"nothing configured", nil, nil, nil, map[string]Deliveries{}},
		{"a new target counts zero", []string{"a"}, nil, nil, map[string]Deliveries{"a": {}}},
		{"successes and failures of every error type", []string{"a", "b"}, []*core.TargetPublishResult{
			ok("a"), ok("a"), failed("a", core.Permanent(400, errors.New("bad"))),
			failed("a", core.Retryable(503, 0, errors.New("down"))), ok("b"),
		}, nil, map[string]Deliveries{"a": {Success: 2, Failure: 2}, "b": {Success: 1}}},
		{"skips are not outcomes", []string{"a"}, []*core.TargetPublishResult{skipped("a"), ok("a")}, nil,
			map[string]Deliveries{"a": {Success: 1}}},
		{"a deleted target is gone", []string{"a", "b"}, []*core.TargetPublishResult{ok("a"), ok("b")}, []string{"a"},
			map[string]Deliveries{"b": {Success: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			for _, name := range tc.init {
				m.InitTarget(name, "webhook")
			}
			for _, r := range tc.results {
				m.recordTarget(r)
			}
			for _, name := range tc.deleted {
				m.DeleteTarget(name)
			}
			if got := m.Deliveries(); !maps.Equal(got, tc.want) {
				t.Errorf("Deliveries() = %v, want %v", got, tc.want)
			}
		})
	}
}
