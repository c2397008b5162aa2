package manifests

import (
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

const (
	rulesFile     = "../rules/am-fanout.rules.yml"
	dashboardFile = "../grafana/am-fanout.json"
)

// shippedQueries returns every query of the rules file and the dashboard.
func shippedQueries(t *testing.T) []string {
	t.Helper()
	queries, err := RuleQueries(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dq, err := DashboardQueries(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(dq) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return append(queries, dq...)
}

func readNames(t *testing.T, path string, read func(io.Reader) (map[string]bool, error)) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return names
}

// exportedByProgram reads the metric names of a running am-fanout, from
// AM_FANOUT_METRICS_URL (its /metrics) or AM_FANOUT_METRICS_FILE (saved
// /metrics output).
func exportedByProgram(t *testing.T) map[string]bool {
	t.Helper()
	if u := os.Getenv("AM_FANOUT_METRICS_URL"); u != "" {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("scraping am-fanout: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scraping am-fanout: %s", resp.Status)
		}
		names, err := ExportedNames(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if f := os.Getenv("AM_FANOUT_METRICS_FILE"); f != "" {
		return readNames(t, f, ExportedNames)
	}
	t.Fatal("set AM_FANOUT_METRICS_URL to a running am-fanout's /metrics, or AM_FANOUT_METRICS_FILE to its saved output")
	return nil
}

// TestRulesAndDashboardUseExportedMetrics is the check that matters: the
// metric names come from the real program.
func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	exported := exportedByProgram(t)
	unknown, err := UnknownNames(shippedQueries(t), exported)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) > 0 {
		t.Errorf("rules or dashboard use metrics am-fanout does not export: %s", strings.Join(unknown, ", "))
	}
}

// TestMetricNameCheckerFindsUnknownNames tests the checker itself against
// a hand-written /metrics sample, never used as the source of truth.
func TestMetricNameCheckerFindsUnknownNames(t *testing.T) {
	exported := readNames(t, "testdata/metrics-sample.prom", ExportedNames)
	queries := shippedQueries(t)
	cases := []struct {
		name    string
		remove  string
		queries []string
		want    []string
	}{
		{"shipped queries against the sample", "", queries, nil},
		{"a histogram's buckets count as exported", "", []string{`histogram_quantile(0.99, sum by (le) (rate(am_fanout_fanout_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`}, nil},
		{"a missing metric is named", "am_fanout_breaker_state", queries, []string{"am_fanout_breaker_state"}},
		{"a typo is named", "", []string{`rate(am_fanout_target_sucess_total[5m])`}, []string{"am_fanout_target_sucess_total"}},
		{"up is Prometheus' own", "", []string{`up{job="am-fanout"} == 0`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ex := map[string]bool{}
			for k := range exported {
				ex[k] = k != c.remove
			}
			got, err := UnknownNames(c.queries, ex)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("unknown names %v, want %v", got, c.want)
			}
		})
	}
}

func TestDashboardQueriesParse(t *testing.T) {
	for _, q := range shippedQueries(t) {
		if _, err := ExprMetricNames(q); err != nil {
			t.Error(err)
		}
	}
}

// TestPrometheusRuleHoldsTheRulesFile proves the chart's PrometheusRule and
// the plain rules file are the same rules.
func TestPrometheusRuleHoldsTheRulesFile(t *testing.T) {
	var rule *monitoringv1.PrometheusRule
	for _, o := range renderObjects(t, renderCases[1]) {
		if r, ok := o.Value.(*monitoringv1.PrometheusRule); ok {
			rule = r
		}
	}
	if rule == nil {
		t.Fatal("no PrometheusRule rendered with prometheusRule.enabled")
	}
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var plain monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(data, &plain); err != nil {
		t.Fatalf("%s does not decode strictly as PrometheusRule groups: %v", rulesFile, err)
	}
	if !reflect.DeepEqual(plain, rule.Spec) {
		t.Errorf("the chart's PrometheusRule differs from %s; copy it to deploy/helm/am-fanout/files/", rulesFile)
	}
}
