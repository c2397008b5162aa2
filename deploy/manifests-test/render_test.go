package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../helm/am-fanout"

// helmTemplate renders the chart as release "am-fanout" in namespace
// "monitoring". The helm binary comes from $HELM or the PATH.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		var err error
		if helm, err = exec.LookPath("helm"); err != nil {
			t.Fatalf("helm is needed to render the chart (set HELM or put it on the PATH): %v", err)
		}
	}
	cmd := exec.Command(helm, append([]string{"template", "am-fanout", chartDir, "--namespace", "monitoring"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &helmError{err: err, stderr: stderr.String()}
	}
	return out, nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + e.stderr }

// renderCase is one set of values the chart must render strictly.
type renderCase struct {
	name  string
	args  []string
	kinds []string // every kind rendered, sorted, one entry per object
}

// The first two cases are standalone; tests of the workload's pod range
// over standaloneCases.
var renderCases = []renderCase{
	{
		name:  "standalone defaults",
		kinds: []string{"ConfigMap", "Service", "ServiceAccount", "StatefulSet"},
	},
	{
		name: "standalone with persistence, targets, existing secrets, monitoring",
		args: []string{"-f", "testdata/standalone-full-values.yaml"},
		kinds: []string{"ConfigMap", "PrometheusRule", "Secret", "Secret", "Service", "ServiceAccount",
			"ServiceMonitor", "StatefulSet"},
	},
	{
		name:  "sidecar",
		args:  []string{"-f", "../sidecar/am-fanout-values.yaml"},
		kinds: []string{"ConfigMap", "PrometheusRule", "Secret", "Secret", "Service", "ServiceMonitor"},
	},
	{
		name:  "standalone without persistence",
		args:  []string{"--set", "persistence.enabled=false"},
		kinds: []string{"ConfigMap", "Deployment", "Service", "ServiceAccount"},
	},
	{
		name: "standalone with NATS, three replicas, credentials and mutual TLS",
		args: []string{"-f", "testdata/standalone-nats-values.yaml"},
		kinds: []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service",
			"ServiceAccount", "ServiceMonitor"},
	},
	{
		name:  "sidecar with NATS",
		args:  []string{"-f", "testdata/sidecar-nats-values.yaml"},
		kinds: []string{"ConfigMap", "Secret"},
	},
}

// standaloneCases are the render cases that render a workload.
func standaloneCases() []renderCase {
	var out []renderCase
	for _, c := range renderCases {
		for _, k := range c.kinds {
			if k == "Deployment" || k == "StatefulSet" {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// renderObjects renders a case and decodes its objects strictly.
func renderObjects(t *testing.T, c renderCase) []Object {
	t.Helper()
	out, err := helmTemplate(t, c.args...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objs, err := DecodeObjects(out)
	if err != nil {
		t.Fatalf("rendered objects do not decode strictly into their API types: %v", err)
	}
	return objs
}

func TestChartRendersOnlyStrictlyValidObjects(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderObjects(t, c)
			var got []string
			for _, o := range objs {
				got = append(got, o.Kind)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(c.kinds, ",") {
				t.Errorf("rendered kinds %v, want %v", got, c.kinds)
			}
		})
	}
}

func TestChartRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"target name not DNS-1123", []string{"--set", "targets[0].name=PD_Prod,targets[0].type=pagerduty"}, "DNS-1123"},
		{"target without type", []string{"--set", "targets[0].name=pd"}, "has no type"},
		{"duplicate target", []string{"--set", "targets[0].name=pd,targets[0].type=file,targets[1].name=pd,targets[1].type=file"}, "duplicate target name"},
		{"unknown mode", []string{"--set", "mode=daemon"}, "mode must be standalone or sidecar"},
		{"sidecar monitor without pod selector", []string{"--set", "mode=sidecar,serviceMonitor.enabled=true"}, "sidecar.podSelector"},
		{"unknown storage backend", []string{"--set", "storage.backend=etcd"}, "storage.backend must be bbolt or nats"},
		{"replicas sharing no store", []string{"--set", "replicaCount=2"}, "needs storage.backend nats"},
		{"storage in config", []string{"--set", "config.storage.backend=nats"}, "set the storage values instead"},
		{"NATS without servers", []string{"--set", "storage.backend=nats,storage.nats.servers=null"}, "at least one NATS URL"},
		{"two NATS credentials", []string{"--set", "storage.backend=nats,storage.nats.auth.existingSecret=s,storage.nats.auth.credentialsKey=c,storage.nats.auth.tokenKey=t"}, "at most one of"},
		{"NATS credentials key without its Secret", []string{"--set", "storage.backend=nats,storage.nats.auth.nkeyKey=seed"}, "needs storage.nats.auth.existingSecret"},
		{"NATS Secret without a key", []string{"--set", "storage.backend=nats,storage.nats.auth.existingSecret=s"}, "needs credentialsKey, nkeyKey or tokenKey"},
		{"NATS client certificate without its key", []string{"--set", "storage.backend=nats,storage.nats.tls.enabled=true,storage.nats.tls.existingSecret=s,storage.nats.tls.certKey=tls.crt"}, "both certKey and keyKey"},
		{"grace period shorter than the shutdown", []string{"--set", "terminationGracePeriodSeconds=30"}, "terminationGracePeriodSeconds 30 is too short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := helmTemplate(t, c.args...)
			if err == nil {
				t.Fatalf("helm template accepted %v, want an error saying %q", c.args, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("helm template error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestExampleTargetSecretsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("../../examples/targets/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example target Secrets in examples/targets (err %v)", err)
	}
	types := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o, err := DecodeObject(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		tg, err := secretTarget(o)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); tg.Type != want {
			t.Errorf("%s holds a %q target; the file name promises %q", f, tg.Type, want)
		}
		types[tg.Type] = true
	}
	for _, typ := range []string{"discord", "file", "jsm", "msteams", "opsgenie", "pagerduty", "rootly", "slack", "webhook"} {
		if !types[typ] {
			t.Errorf("examples/targets has no Secret for target type %q", typ)
		}
	}
}
