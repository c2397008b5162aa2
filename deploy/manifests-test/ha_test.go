package manifests

import (
	"path"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// storageConfig is the config file's storage block as the chart renders it.
type storageConfig struct {
	Backend string `json:"backend"`
	NATS    *struct {
		Servers         []string `json:"servers"`
		CredentialsFile string   `json:"credentials_file"`
		NKeyFile        string   `json:"nkey_file"`
		TokenFile       string   `json:"token_file"`
		StreamPrefix    string   `json:"stream_prefix"`
		Replicas        int      `json:"replicas"`
		DuplicateWindow string   `json:"duplicate_window"`
		ConnectTimeout  string   `json:"connect_timeout"`
		TLSConfig       *struct {
			CAFile             string `json:"ca_file"`
			CertFile           string `json:"cert_file"`
			KeyFile            string `json:"key_file"`
			ServerName         string `json:"server_name"`
			InsecureSkipVerify bool   `json:"insecure_skip_verify"`
		} `json:"tls_config"`
	} `json:"nats"`
}

// renderedStorage returns the storage block of the rendered am-fanout.yml,
// nil when the chart renders none.
func renderedStorage(t *testing.T, objs []Object) *storageConfig {
	t.Helper()
	for _, o := range objs {
		cm, ok := o.Value.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		var cfg struct {
			Storage *storageConfig `json:"storage"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["am-fanout.yml"]), &cfg); err != nil {
			t.Fatalf("ConfigMap %s: am-fanout.yml: %v", cm.Name, err)
		}
		return cfg.Storage
	}
	t.Fatal("no ConfigMap rendered")
	return nil
}

func kindsOf(objs []Object, kind string) []Object {
	var out []Object
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestPodDisruptionBudgetOnlyWithReplicas(t *testing.T) {
	nats := []string{"-f", "testdata/standalone-nats-values.yaml"}
	cases := []struct {
		name string
		args []string
		want bool
	}{
		{"one replica", nil, false},
		{"one replica on NATS", []string{"--set", "storage.backend=nats"}, false},
		{"three replicas on NATS", nats, true},
		{"three replicas on NATS, budget disabled", append(nats, "--set", "podDisruptionBudget.enabled=false"), false},
		{"sidecar, whose pod is Alertmanager's", []string{"-f", "testdata/sidecar-nats-values.yaml", "--set", "replicaCount=3"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderObjects(t, renderCase{args: c.args})
			pdbs := kindsOf(objs, "PodDisruptionBudget")
			if !c.want {
				if len(pdbs) != 0 {
					t.Errorf("a PodDisruptionBudget is rendered; want none")
				}
				return
			}
			if len(pdbs) != 1 {
				t.Fatalf("%d PodDisruptionBudgets rendered, want 1", len(pdbs))
			}
			pdb := pdbs[0].Value.(*policyv1.PodDisruptionBudget)
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
			}
			pod := podTemplateLabels(t, objs)
			if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels) == 0 {
				t.Fatal("the budget selects no pods")
			}
			for k, v := range pdb.Spec.Selector.MatchLabels {
				if pod[k] != v {
					t.Errorf("the budget selects %s=%s, which the workload's pods do not carry", k, v)
				}
			}
		})
	}
}

func podTemplateLabels(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	for _, o := range kindsOf(objs, "Deployment") {
		return o.Value.(*appsv1.Deployment).Spec.Template.Labels
	}
	t.Fatal("no Deployment rendered")
	return nil
}

// TestNATSStorageIsRenderedIntoTheConfig proves the storage values become
// the config file's storage block, and every *_file it names is a key of a
// Secret mounted read-only at that path.
func TestNATSStorageIsRenderedIntoTheConfig(t *testing.T) {
	t.Run("bbolt renders no storage block", func(t *testing.T) {
		if s := renderedStorage(t, renderObjects(t, renderCases[0])); s != nil {
			t.Errorf("storage block %+v rendered for the default backend; an older am-fanout would refuse it", s)
		}
	})
	cases := []struct {
		name    string
		args    []string
		servers int
		files   []string // the *_file values expected, in storageFiles' order
	}{
		{"credentials and mutual TLS", []string{"-f", "testdata/standalone-nats-values.yaml"}, 3,
			[]string{"/etc/am-fanout-nats-auth/am-fanout.creds", "/etc/am-fanout-nats-tls/ca.crt",
				"/etc/am-fanout-nats-tls/tls.crt", "/etc/am-fanout-nats-tls/tls.key"}},
		{"nkey, TLS on the system roots", []string{"-f", "testdata/sidecar-nats-values.yaml", "--set", "mode=standalone"}, 1,
			[]string{"/etc/am-fanout-nats-auth/seed.nk"}},
		{"token, no TLS", []string{"--set", "storage.backend=nats,storage.nats.auth.existingSecret=nats-token,storage.nats.auth.tokenKey=token"}, 1,
			[]string{"/etc/am-fanout-nats-auth/token"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderObjects(t, renderCase{args: c.args})
			s := renderedStorage(t, objs)
			if s == nil || s.Backend != "nats" || s.NATS == nil {
				t.Fatalf("storage block %+v, want backend nats with a nats block", s)
			}
			n := s.NATS
			if len(n.Servers) != c.servers || n.Replicas != 3 || n.StreamPrefix == "" {
				t.Errorf("nats block %+v: want %d servers, replicas 3 and a stream prefix", n, c.servers)
			}
			for _, d := range []string{n.DuplicateWindow, n.ConnectTimeout} {
				if _, err := time.ParseDuration(d); err != nil {
					t.Errorf("nats block duration %q: %v", d, err)
				}
			}
			files := storageFiles(s)
			if strings.Join(files, ",") != strings.Join(c.files, ",") {
				t.Errorf("storage files %v, want %v", files, c.files)
			}
			pod, _ := podOf(t, objs)
			for _, f := range files {
				checkSecretFile(t, pod, f)
			}
		})
	}
}

// storageFiles returns the file paths of a nats block: credentials, nkey,
// token, then the TLS CA, certificate and key; unset ones left out.
func storageFiles(s *storageConfig) []string {
	n := s.NATS
	all := []string{n.CredentialsFile, n.NKeyFile, n.TokenFile}
	if n.TLSConfig != nil {
		all = append(all, n.TLSConfig.CAFile, n.TLSConfig.CertFile, n.TLSConfig.KeyFile)
	}
	var out []string
	for _, f := range all {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkSecretFile fails unless file is a Secret key the container mounts
// read-only at that path.
func checkSecretFile(t *testing.T, pod *corev1.PodSpec, file string) {
	t.Helper()
	dir, name := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	volumes := map[string]corev1.VolumeSource{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v.VolumeSource
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s is mounted writable", dir)
		}
		sec := volumes[m.Name].Secret
		if sec == nil {
			t.Fatalf("%s is not a Secret volume", dir)
		}
		for _, it := range sec.Items {
			if it.Path == name {
				return
			}
		}
		t.Fatalf("Secret %s mounted at %s has no item at %s", sec.SecretName, dir, name)
	}
	t.Errorf("%s names no mounted folder (mounts %+v)", file, pod.Containers[0].VolumeMounts)
}

// TestPodDrainsWithinItsGracePeriod proves every workload has a preStop
// sleep before SIGTERM, and a grace period that covers the sleep and the
// shutdown timeout am-fanout is given.
func TestPodDrainsWithinItsGracePeriod(t *testing.T) {
	for _, c := range standaloneCases() {
		t.Run(c.name, func(t *testing.T) {
			pod, _ := podOf(t, renderObjects(t, c))
			ctr := pod.Containers[0]
			if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil {
				t.Fatalf("no preStop sleep: endpoints may still send webhooks to a stopping pod (lifecycle %+v)", ctr.Lifecycle)
			}
			sleep := time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			if sleep <= 0 {
				t.Errorf("preStop sleeps %v", sleep)
			}
			drain, err := time.ParseDuration(flagValue(ctr.Args, "web.shutdown-timeout"))
			if err != nil {
				t.Fatalf("--web.shutdown-timeout: %v (args %v)", err, ctr.Args)
			}
			if pod.TerminationGracePeriodSeconds == nil {
				t.Fatal("no terminationGracePeriodSeconds")
			}
			grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
			if grace < sleep+drain+5*time.Second {
				t.Errorf("grace period %v does not cover the preStop sleep %v and the shutdown timeout %v", grace, sleep, drain)
			}
		})
	}
	t.Run("preStopSleepSeconds 0 leaves the hook out", func(t *testing.T) {
		pod, _ := podOf(t, renderObjects(t, renderCase{args: []string{"--set", "shutdown.preStopSleepSeconds=0"}}))
		if pod.Containers[0].Lifecycle != nil {
			t.Errorf("lifecycle %+v rendered", pod.Containers[0].Lifecycle)
		}
	})
}

// TestServiceMonitorLabelsWhatOutlivesThePod proves the storage label the
// rule AmFanoutPendingDeliveriesLost reads is set for each way of running.
func TestServiceMonitorLabelsWhatOutlivesThePod(t *testing.T) {
	monitor := []string{"--set", "serviceMonitor.enabled=true"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bbolt on a claim", monitor, "persistent"},
		{"bbolt on an emptyDir", append(monitor, "--set", "persistence.enabled=false"), "ephemeral"},
		{"bbolt in the Alertmanager pod", []string{"-f", "../sidecar/am-fanout-values.yaml"}, "ephemeral"},
		{"NATS", []string{"-f", "testdata/standalone-nats-values.yaml"}, "shared"},
		{"NATS in the Alertmanager pod", append([]string{"-f", "testdata/sidecar-nats-values.yaml"}, "--set", "serviceMonitor.enabled=true,sidecar.podSelector.app=alertmanager"), "shared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sms := kindsOf(renderObjects(t, renderCase{args: c.args}), "ServiceMonitor")
			if len(sms) != 1 {
				t.Fatalf("%d ServiceMonitors rendered, want 1", len(sms))
			}
			var got []string
			for _, ep := range sms[0].Value.(*monitoringv1.ServiceMonitor).Spec.Endpoints {
				for _, r := range ep.RelabelConfigs {
					if r.TargetLabel == "storage" && r.Replacement != nil {
						got = append(got, *r.Replacement)
					}
				}
			}
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("storage labels %v, want [%s]", got, c.want)
			}
		})
	}
}
