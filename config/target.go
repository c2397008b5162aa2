package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// targetBlock is a target as the file writes it: the fields every type
// shares; the type's own block is decoded into spec.
type targetBlock struct {
	Name         string         `yaml:"name"`
	Type         string         `yaml:"type"`
	Match        []string       `yaml:"match"`
	SendResolved bool           `yaml:"send_resolved"`
	Timeout      model.Duration `yaml:"timeout"`
	Breaker      Breaker        `yaml:"breaker"`
	// Probe is the target's active health check; nil for none.
	Probe *Probe `yaml:"probe"`
	// GroupBy and RateLimit are as written; groupBy and rateLimit are
	// resolved against the defaults and the type's vendor.
	GroupBy   core.GroupBy `yaml:"group_by"`
	RateLimit *RateLimit   `yaml:"rate_limit"`
	// Fallback names the targets that get this target's dead letters.
	Fallback []string `yaml:"fallback"`

	spec      publish.Config
	matchers  matchers
	groupBy   core.GroupBy
	rateLimit core.RateLimit
	file      string
	line      int
}

// TargetTypes lists the target types am-fanout knows.
func TargetTypes() []string {
	var out []string
	for _, in := range Integrations() {
		out = append(out, in.Type)
	}
	return out
}

// newSpec returns the type's block with its defaults, nil for an unknown
// type.
func newSpec(typ string) publish.Config {
	for _, in := range Integrations() {
		if in.Type == typ {
			return in.NewConfig()
		}
	}
	return nil
}

// matchers select the alerts whose labels they all match.
type matchers labels.Matchers

// Selects implements core.Selector.
func (ms matchers) Selects(ls map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// target is the block as the one target type.
func (t *targetBlock) target() *core.Target {
	out := &core.Target{
		Name: t.Name, Type: t.Type, Source: fmt.Sprintf("%s:%d", t.file, t.line),
		Match: t.Match, Selector: t.matchers,
		SendResolved: t.SendResolved, Timeout: time.Duration(t.Timeout),
		GroupBy: t.groupBy, RateLimit: t.rateLimit,
		Breaker:  t.Breaker.settings(),
		Fallback: t.Fallback,
		Spec:     t.spec, Key: t.key(),
	}
	if t.Probe != nil {
		out.Probe = &core.Probe{
			HTTPGet: string(t.Probe.HTTPGet), TCP: t.Probe.TCP,
			Interval: time.Duration(t.Probe.Interval), Timeout: time.Duration(t.Probe.Timeout),
		}
	}
	return out
}

// key identifies the target's configuration: it changes when anything but
// a secret's value changes (secrets marshal as "<secret>"), so a reload can
// keep the breaker and health state of unchanged targets. The pace is in
// it as resolved, like the timeout and breaker, but not its scope, which
// is a hash of secrets. The fallbacks are not in it: they change where the
// target's dead letters go, not how it is reached, so changing them keeps
// its breaker, health and gone state.
func (t *targetBlock) key() string {
	spec, _ := yaml.Marshal(t.spec)
	return fmt.Sprintf("%s/%s/%q/%t/%v/%+v/%s/%v/%d/%s", t.Name, t.Type, t.Match, t.SendResolved, t.Timeout, t.Breaker,
		t.groupBy, t.rateLimit.PerSecond, t.rateLimit.Burst, spec)
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// decodeTargets decodes a targets list; file names it in errors and
// anchors relative paths. It notes in sites where each fallback entry is
// written, for the check of the whole set (checkFallbacks).
func decodeTargets(nodes []yaml.Node, file string, d *Defaults, sites fallbackSites) ([]*core.Target, error) {
	out := make([]*core.Target, 0, len(nodes))
	for i := range nodes {
		t, err := decodeTarget(&nodes[i], file, d)
		if err != nil {
			return nil, err
		}
		sites.note(t, &nodes[i], file)
		out = append(out, t)
	}
	return out, nil
}

func decodeTarget(n *yaml.Node, file string, d *Defaults) (*core.Target, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a target must be a mapping with name and type", file, n.Line)
	}
	t := &targetBlock{SendResolved: d.SendResolved, Timeout: d.Timeout, Breaker: d.Breaker, file: file, line: n.Line}
	pos := &position{file: file, root: n}
	typ := scalar(n, "type")
	t.spec = newSpec(typ)
	if t.spec == nil {
		name := scalar(n, "name")
		if typ == "" {
			return nil, pos.errorf("type", "target %q has no type (one of %s)", name, strings.Join(TargetTypes(), ", "))
		}
		return nil, pos.errorf("type", "target %q: unknown type %q (one of %s)", name, typ, strings.Join(TargetTypes(), ", "))
	}
	both := reflect.StructOf([]reflect.StructField{
		{Name: "Common", Type: reflect.TypeOf(targetBlock{}), Tag: `yaml:",inline"`},
		{Name: "Spec", Type: reflect.TypeOf(t.spec), Tag: `yaml:",inline"`},
	})
	if err := checkKeys(file, n, both); err != nil {
		return nil, err
	}
	if err := n.Decode(t); err != nil {
		return nil, decodeError(file, err, n, reflect.TypeOf(t))
	}
	if err := n.Decode(t.spec); err != nil {
		return nil, decodeError(file, err, n, reflect.TypeOf(t.spec))
	}
	if err := t.validate(pos, filepath.Dir(file)); err != nil {
		return nil, err
	}
	if err := t.pacing(pos, d); err != nil {
		return nil, err
	}
	return t.target(), nil
}

func (t *targetBlock) validate(pos *position, dir string) error {
	if t.Name == "" {
		return pos.errorf("name", "a %s target has no name", t.Type)
	}
	if len(t.Name) > 63 || !dns1123.MatchString(t.Name) {
		return pos.errorf("name", "target name %q must be a DNS-1123 label: lower case letters, digits and '-', at most 63 characters", t.Name)
	}
	if t.Timeout <= 0 {
		return pos.errorf("timeout", "target %q: timeout must be positive", t.Name)
	}
	if err := t.Breaker.validate(pos, "breaker"); err != nil {
		return fmt.Errorf("target %q: %w", t.Name, err)
	}
	ms, bad, err := parseMatchers(t.Match)
	if err != nil {
		return pos.errorf(fmt.Sprintf("match.%d", bad), "target %q: %v", t.Name, err)
	}
	t.matchers = matchers(ms)
	if t.Probe != nil {
		if err := t.Probe.validate(pos, t.Name); err != nil {
			return err
		}
	}
	if err := t.spec.Validate(dir); err != nil {
		return fmt.Errorf("%s:%d: target %q (%s): %w", t.file, pos.fieldLine(err.Error(), t.line), t.Name, t.Type, err)
	}
	return nil
}

func scalar(n *yaml.Node, key string) string {
	if c := child(n, key); c != nil && c.Kind == yaml.ScalarNode {
		return c.Value
	}
	return ""
}

// checkUniqueNames rejects two targets of one name, naming both places.
func checkUniqueNames(ts []*core.Target) error {
	seen := make(map[string]*core.Target, len(ts))
	for _, t := range ts {
		if prev, ok := seen[t.Name]; ok {
			return fmt.Errorf("duplicate target name %q: defined at %s and at %s", t.Name, prev.Source, t.Source)
		}
		seen[t.Name] = t
	}
	return nil
}

// TargetFiles lists the *.yml and *.yaml files of a targets directory in
// name order. Hidden entries (Kubernetes' ..data and its timestamped
// folders) are left out; the visible names are symlinks into them.
func TargetFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("targets directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if ext := filepath.Ext(name); ext != ".yml" && ext != ".yaml" {
			continue
		}
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			continue
		}
		files = append(files, path)
	}
	sort.Strings(files)
	return files, nil
}

// targetsFile is the shape of a file in the targets directory.
type targetsFile struct {
	Targets []yaml.Node `yaml:"targets"`
}

func loadTargetsFile(path string, d *Defaults, sites fallbackSites) ([]*core.Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf targetsFile
	if err := decodeStrict(data, &tf); err != nil {
		return nil, yamlError(path, err)
	}
	return decodeTargets(tf.Targets, path, d, sites)
}
