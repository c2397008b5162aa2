package manifests

import (
	"os"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// sidecarValues are the values files of the charts am-fanout runs inside of,
// with where each keeps the containers, the volumes and the Alertmanager
// configuration.
var sidecarValues = []struct {
	file string
	pick func(v map[string]any) (containers, volumes, config any)
}{
	{"../sidecar/alertmanager-values.yaml", func(v map[string]any) (any, any, any) {
		return v["extraContainers"], v["extraVolumes"], v["config"]
	}},
	{"../sidecar/kube-prometheus-stack-values.yaml", func(v map[string]any) (any, any, any) {
		am, _ := v["alertmanager"].(map[string]any)
		spec, _ := am["alertmanagerSpec"].(map[string]any)
		return spec["containers"], spec["volumes"], am["config"]
	}},
}

// strictInto re-encodes v and decodes it strictly into out.
func strictInto(t *testing.T, v any, out any) {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, out); err != nil {
		t.Fatalf("decoding %T strictly: %v", out, err)
	}
}

// TestSidecarValuesHoldTheChartsContainer proves the container and volumes
// in the sidecar values decode strictly into the Kubernetes types and are
// exactly what the chart renders for the same release and targets, so the
// ConfigMap and Secret names they mount exist.
func TestSidecarValuesHoldTheChartsContainer(t *testing.T) {
	objs := renderObjects(t, renderCase{args: []string{"-f", "../sidecar/am-fanout-values.yaml", "--set", "mode=standalone,persistence.enabled=false"}})
	pod, _ := podOf(t, objs)
	for _, s := range sidecarValues {
		t.Run(s.file, func(t *testing.T) {
			data, err := os.ReadFile(s.file)
			if err != nil {
				t.Fatal(err)
			}
			var values map[string]any
			if err := yaml.UnmarshalStrict(data, &values); err != nil {
				t.Fatal(err)
			}
			c, v, _ := s.pick(values)
			var containers []corev1.Container
			var volumes []corev1.Volume
			strictInto(t, c, &containers)
			strictInto(t, v, &volumes)
			if len(containers) != 1 || !reflect.DeepEqual(containers[0], pod.Containers[0]) {
				t.Errorf("the container differs from the chart's:\n got %+v\nwant %+v", containers, pod.Containers[0])
			}
			if !reflect.DeepEqual(volumes, pod.Volumes) {
				t.Errorf("the volumes differ from the chart's:\n got %+v\nwant %+v", volumes, pod.Volumes)
			}
		})
	}
}

func TestKubePrometheusStackExampleIsTheSidecarValues(t *testing.T) {
	example, err := os.ReadFile("../../examples/kube-prometheus-stack-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sidecar, err := os.ReadFile("../sidecar/kube-prometheus-stack-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(example) != string(sidecar) {
		t.Error("examples/kube-prometheus-stack-values.yaml differs from deploy/sidecar/kube-prometheus-stack-values.yaml; copy one onto the other")
	}
}
