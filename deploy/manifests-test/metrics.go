package manifests

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// prometheusSeries are series Prometheus itself writes for every scrape,
// which the rules may use beside am-fanout's own metrics.
var prometheusSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// ExportedNames reads /metrics output and returns every series name it
// holds; histograms and summaries add their _bucket, _sum and _count series.
func ExportedNames(r io.Reader) (map[string]bool, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	names := make(map[string]bool, len(families))
	for name, f := range families {
		names[name] = true
		switch f.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case "SUMMARY":
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names, nil
}

// grafanaVariable matches $var, ${var} and ${var:format} in a query.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// withoutGrafanaVariables replaces Grafana's variables by values PromQL
// parses: a duration for the interval variables, a word for the rest
// (which only ever stand inside label matchers).
func withoutGrafanaVariables(expr string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		switch grafanaVariable.FindStringSubmatch(v)[1] {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return "x"
	})
}

// ExprMetricNames returns the metric names an expression selects.
func ExprMetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(withoutGrafanaVariables(expr))
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

// DashboardQueries returns every PromQL query of a Grafana dashboard: the
// panels' target expressions and the template variables' queries.
func DashboardQueries(data []byte) ([]string, error) {
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var queries []string
	if err := panelQueries(d.Panels, &queries); err != nil {
		return nil, err
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		if inner := labelValuesQuery.FindStringSubmatch(q); inner != nil {
			queries = append(queries, inner[1])
		}
	}
	return queries, nil
}

// labelValuesQuery takes the series selector out of label_values(sel, l).
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\((.+),\s*\w+\s*\)\s*$`)

func panelQueries(panels []json.RawMessage, queries *[]string) error {
	for _, raw := range panels {
		var p struct {
			Title   string            `json:"title"`
			Panels  []json.RawMessage `json:"panels"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("dashboard panel: %w", err)
		}
		for _, t := range p.Targets {
			if t.Expr == "" {
				return fmt.Errorf("panel %q has a target without expr", p.Title)
			}
			*queries = append(*queries, t.Expr)
		}
		if err := panelQueries(p.Panels, queries); err != nil {
			return err
		}
	}
	return nil
}

// RuleQueries returns the expression of every rule in a rules file, which
// must pass Prometheus' own validation.
func RuleQueries(path string) ([]string, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", path, errs)
	}
	var queries []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			queries = append(queries, r.Expr)
		}
	}
	return queries, nil
}

// UnknownNames returns, sorted, the metric names the queries use that are
// neither exported nor written by Prometheus itself.
func UnknownNames(queries []string, exported map[string]bool) ([]string, error) {
	unknown := map[string]bool{}
	for _, q := range queries {
		names, err := ExprMetricNames(q)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !exported[n] && !isPrometheusSeries(n) {
				unknown[n] = true
			}
		}
	}
	out := make([]string, 0, len(unknown))
	for n := range unknown {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func isPrometheusSeries(name string) bool {
	for _, s := range prometheusSeries {
		if s == name {
			return true
		}
	}
	return false
}
