package manifests

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// target is the part of a targets file entry the chart cares about.
type target struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// secretTarget returns the one target a target Secret's targets.yml holds.
func secretTarget(o Object) (target, error) {
	s, ok := o.Value.(*corev1.Secret)
	if !ok {
		return target{}, fmt.Errorf("%s %s is not a Secret", o.Kind, o.Name)
	}
	data := s.Data["targets.yml"]
	if data == nil {
		data = []byte(s.StringData["targets.yml"])
	}
	var f struct {
		Targets []map[string]any `json:"targets"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return target{}, fmt.Errorf("Secret %s: targets.yml: %w", o.Name, err)
	}
	if len(f.Targets) != 1 {
		return target{}, fmt.Errorf("Secret %s holds %d targets, want one", o.Name, len(f.Targets))
	}
	name, _ := f.Targets[0]["name"].(string)
	typ, _ := f.Targets[0]["type"].(string)
	if name == "" || typ == "" {
		return target{}, fmt.Errorf("Secret %s: the target needs a name and a type", o.Name)
	}
	return target{Name: name, Type: typ}, nil
}

// podOf returns the pod template and claim templates of the workload.
func podOf(t *testing.T, objs []Object) (*corev1.PodSpec, []corev1.PersistentVolumeClaim) {
	t.Helper()
	for _, o := range objs {
		switch w := o.Value.(type) {
		case *appsv1.Deployment:
			return &w.Spec.Template.Spec, nil
		case *appsv1.StatefulSet:
			return &w.Spec.Template.Spec, w.Spec.VolumeClaimTemplates
		}
	}
	t.Fatal("no Deployment or StatefulSet rendered")
	return nil, nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func TestWorkloadIsLockedDown(t *testing.T) {
	for _, c := range standaloneCases() {
		t.Run(c.name, func(t *testing.T) {
			pod, _ := podOf(t, renderObjects(t, c))
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the pod mounts a service account token; am-fanout talks to no Kubernetes API")
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("pod has %d containers, want 1", len(pod.Containers))
			}
			sc := pod.Containers[0].SecurityContext
			switch {
			case sc == nil:
				t.Fatal("container has no securityContext")
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				t.Error("container may run as root")
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Error("container root filesystem is writable")
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Error("container allows privilege escalation")
			case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
				t.Error("container does not drop ALL capabilities")
			case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
				t.Error("container seccomp profile is not RuntimeDefault")
			}
			ctr := pod.Containers[0]
			for probe, want := range map[*corev1.Probe]string{ctr.LivenessProbe: "/-/healthy", ctr.ReadinessProbe: "/-/ready"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want {
					t.Errorf("no HTTP probe on %s", want)
				}
			}
			if ctr.Resources.Limits.Memory().IsZero() {
				t.Error("container has no memory limit")
			}
		})
	}
}

// TestWorkloadMountsWhatItsFlagsName proves every path flag points at a
// mounted volume of the right kind, and every target Secret rendered is
// projected into --targets.dir under a name of its own.
func TestWorkloadMountsWhatItsFlagsName(t *testing.T) {
	for _, c := range standaloneCases() {
		t.Run(c.name, func(t *testing.T) {
			objs := renderObjects(t, c)
			pod, claims := podOf(t, objs)
			ctr := pod.Containers[0]
			volumes := map[string]corev1.VolumeSource{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v.VolumeSource
			}
			claimed := map[string]bool{}
			for _, pvc := range claims {
				claimed[pvc.Name] = true
			}
			mountAt := map[string]corev1.VolumeMount{}
			for _, m := range ctr.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok && !claimed[m.Name] {
					t.Errorf("mount %s names no volume or claim template", m.Name)
				}
				mountAt[m.MountPath] = m
			}

			cfg := mountAt[strings.TrimSuffix(flagValue(ctr.Args, "config.file"), "/am-fanout.yml")]
			if cm := volumes[cfg.Name].ConfigMap; cm == nil || !hasConfigMap(objs, cm.Name, "am-fanout.yml") {
				t.Errorf("--config.file is not am-fanout.yml of a rendered ConfigMap mounted at its folder (args %v)", ctr.Args)
			}

			storage, ok := mountAt[flagValue(ctr.Args, "storage.path")]
			switch {
			case !ok:
				t.Errorf("--storage.path is not a mount point (args %v)", ctr.Args)
			case storage.ReadOnly:
				t.Error("--storage.path is mounted read-only")
			case volumes[storage.Name].EmptyDir == nil && !claimed[storage.Name]:
				t.Error("--storage.path is neither an emptyDir nor a claim template")
			}

			checkTargetsDir(t, objs, ctr, volumes, mountAt)
		})
	}
}

func hasConfigMap(objs []Object, name, key string) bool {
	for _, o := range objs {
		if cm, ok := o.Value.(*corev1.ConfigMap); ok && cm.Name == name {
			_, has := cm.Data[key]
			return has
		}
	}
	return false
}

func checkTargetsDir(t *testing.T, objs []Object, ctr corev1.Container, volumes map[string]corev1.VolumeSource, mountAt map[string]corev1.VolumeMount) {
	t.Helper()
	projected := map[string]bool{}
	if dir := flagValue(ctr.Args, "targets.dir"); dir != "" {
		p := volumes[mountAt[dir].Name].Projected
		if p == nil {
			t.Fatalf("--targets.dir %s is not a projected volume", dir)
		}
		paths := map[string]bool{}
		for _, src := range p.Sources {
			if src.Secret == nil || len(src.Secret.Items) != 1 {
				t.Fatalf("targets volume source %+v is not one Secret key", src)
			}
			path := src.Secret.Items[0].Path
			if paths[path] || !strings.HasSuffix(path, ".yml") || strings.HasPrefix(path, ".") {
				t.Errorf("target file %q is repeated, hidden or not *.yml: am-fanout would miss it", path)
			}
			paths[path] = true
			projected[src.Secret.Name] = true
		}
	}
	for _, o := range objs {
		if o.Kind != "Secret" {
			continue
		}
		if _, err := secretTarget(o); err != nil {
			t.Error(err)
		}
		if !projected[o.Name] {
			t.Errorf("target Secret %s is not mounted into --targets.dir", o.Name)
		}
	}
}
