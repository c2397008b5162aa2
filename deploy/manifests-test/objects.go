package manifests

import (
	"bytes"
	"fmt"
	"regexp"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest decoded into its API type.
type Object struct {
	Kind string
	Name string
	// Value is a pointer to the typed object, such as *appsv1.Deployment.
	Value any
}

// kinds maps every kind the chart may render to its apiVersion and a
// constructor of its typed value. A kind missing here is an error: the
// test must learn about a new object before it ships.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"ConfigMap":           {"v1", func() any { return &corev1.ConfigMap{} }},
	"Secret":              {"v1", func() any { return &corev1.Secret{} }},
	"Service":             {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount":      {"v1", func() any { return &corev1.ServiceAccount{} }},
	"Deployment":          {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"StatefulSet":         {"apps/v1", func() any { return &appsv1.StatefulSet{} }},
	"PodDisruptionBudget": {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"ServiceMonitor":      {"monitoring.coreos.com/v1", func() any { return &monitoringv1.ServiceMonitor{} }},
	"PrometheusRule":      {"monitoring.coreos.com/v1", func() any { return &monitoringv1.PrometheusRule{} }},
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// SplitDocuments splits a multi-document YAML stream, dropping documents
// that hold only comments or white space.
func SplitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(stream), -1) {
		if len(bytes.TrimSpace(stripComments([]byte(d)))) > 0 {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// DecodeObject decodes one manifest strictly: an unknown or duplicate field
// anywhere in it is an error, and so is an unknown kind or a wrong
// apiVersion for the kind.
func DecodeObject(doc []byte) (Object, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return Object{}, fmt.Errorf("reading kind: %w", err)
	}
	k, ok := kinds[meta.Kind]
	if !ok {
		return Object{}, fmt.Errorf("kind %q is not one the chart is expected to render", meta.Kind)
	}
	if meta.APIVersion != k.apiVersion {
		return Object{}, fmt.Errorf("%s has apiVersion %q, want %q", meta.Kind, meta.APIVersion, k.apiVersion)
	}
	v := k.new()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return Object{}, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	name := v.(metav1.ObjectMetaAccessor).GetObjectMeta().GetName()
	if name == "" {
		return Object{}, fmt.Errorf("%s without metadata.name", meta.Kind)
	}
	return Object{Kind: meta.Kind, Name: name, Value: v}, nil
}

// DecodeObjects decodes every manifest of a rendered stream strictly.
func DecodeObjects(stream []byte) ([]Object, error) {
	var objs []Object
	for i, doc := range SplitDocuments(stream) {
		o, err := DecodeObject(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}
