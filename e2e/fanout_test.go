package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fanoutServer is a running am-fanout process.
type fanoutServer struct {
	proc *process
	url  string // http://127.0.0.1:port
	dir  string // holds its config file; relative target paths start here
}

// startFanout writes config to am-fanout.yml in a fresh folder and runs
// am-fanout on it, on a free loopback port, with any extra flags. It logs
// at debug level unless the flags set another.
func startFanout(t testing.TB, config string, flags ...string) *fanoutServer {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "am-fanout.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatalf("writing the am-fanout config: %v", err)
	}
	proc, addr := startServing(t, "am-fanout", bins.fanout, func(addr string) []string {
		args := []string{
			"--config.file=" + cfgFile,
			"--storage.path=" + filepath.Join(dir, "storage"),
			"--web.listen-address=" + addr,
		}
		if !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--log.level=") }) {
			// Every delivery logged, to be shown if the test fails.
			args = append(args, "--log.level=debug")
		}
		return append(args, flags...)
	})
	return &fanoutServer{proc: proc, url: "http://" + addr, dir: dir}
}

// webhookAnswer is the JSON body /webhook answers with.
type webhookAnswer struct {
	Error  string `json:"error"`
	Alerts []struct {
		Fingerprint string `json:"fingerprint"`
		Status      string `json:"status"`
		Result      struct {
			TotalTargets int            `json:"total_targets"`
			SuccessCount int            `json:"success_count"`
			FailureCount int            `json:"failure_count"`
			SkippedCount int            `json:"skipped_count"`
			Results      []targetResult `json:"results"`
		} `json:"result"`
	} `json:"alerts"`
}

// targetResult is the outcome of one delivery in a /webhook answer.
type targetResult struct {
	Target     string `json:"target"`
	Type       string `json:"type"`
	Result     string `json:"result"`
	Error      string `json:"error"`
	StatusCode int    `json:"status_code"`
	SkipReason string `json:"skip_reason"`
	Duration   string `json:"duration"`
}

// postWebhook sends body to /webhook and returns the status, the content
// type and the decoded answer.
func (f *fanoutServer) postWebhook(t testing.TB, body []byte) (int, string, webhookAnswer, []byte) {
	t.Helper()
	return f.postWebhookTo(t, "/webhook", body)
}

// postWebhookWait posts with ?wait=true, so that the answer holds the
// first attempt's results even when the outbox is on.
func (f *fanoutServer) postWebhookWait(t testing.TB, body []byte) (int, string, webhookAnswer, []byte) {
	t.Helper()
	return f.postWebhookTo(t, "/webhook?wait=true", body)
}

func (f *fanoutServer) postWebhookTo(t testing.TB, path string, body []byte) (int, string, webhookAnswer, []byte) {
	t.Helper()
	resp, err := client.Post(f.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /webhook: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the /webhook answer: %v", err)
	}
	var ans webhookAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("the /webhook answer (%s) is not JSON: %v: %q", resp.Status, err, raw)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), ans, raw
}

// metrics scrapes /metrics.
func (f *fanoutServer) metrics(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(f.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics answered %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue sums the counters or gauges of the family whose labels
// include all of want; found is false when no series matches.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, found bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, found
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// waitMetric waits until the series reaches at least min.
func (f *fanoutServer) waitMetric(t testing.TB, name string, labels map[string]string, min float64) {
	t.Helper()
	waitFor(t, waitTimeout, fmt.Sprintf("%s >= %v", series(name, labels), min), func() (bool, string) {
		v, found := metricValue(f.metrics(t), name, labels)
		return v >= min, fmt.Sprintf("value %v (series present: %v)", v, found)
	})
}

// series names a metric series for messages, as in name{a="b"}.
func series(name string, labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}
