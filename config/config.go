// Package config loads am-fanout's YAML configuration strictly: unknown keys
// are errors, every field has a default, and every error names the file and
// line it comes from.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of am-fanout.
type Config struct {
	Defaults Defaults `yaml:"defaults"`
	Fanout   Fanout   `yaml:"fanout"`
	Enrich   Enrich   `yaml:"enrich"`
	Receiver Receiver `yaml:"receiver"`
	Health   Health   `yaml:"health"`
	Outbox   Outbox   `yaml:"outbox"`
	Tracing  Tracing  `yaml:"tracing"`
	Storage  Storage  `yaml:"storage"`
	Runtime  Runtime  `yaml:"runtime"`
	// Targets are the targets of the config file followed by those of the
	// targets directory.
	Targets []*core.Target `yaml:"-"`
	// Files lists every file the configuration was read from.
	Files []string `yaml:"-"`
}

// Defaults apply to every target that does not set its own value.
type Defaults struct {
	Timeout      model.Duration `yaml:"timeout"`
	SendResolved bool           `yaml:"send_resolved"`
	Breaker      Breaker        `yaml:"breaker"`
	// GroupBy, when set, replaces the group_by of each target's type.
	GroupBy core.GroupBy `yaml:"group_by"`
	// RateLimit, when set, replaces the fields it sets of each target
	// type's vendor pace.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// Breaker configures a target's circuit breaker.
type Breaker struct {
	// Failures is how many consecutive failures open the breaker.
	Failures uint32 `yaml:"failures"`
	// OpenFor is how long an open breaker rejects deliveries before it lets
	// trial deliveries through.
	OpenFor model.Duration `yaml:"open_for"`
	// HalfOpenRequests is how many trial deliveries a half-open breaker
	// allows; that many successes close it.
	HalfOpenRequests uint32 `yaml:"half_open_requests"`
}

// Fanout configures the parallel delivery of one alert.
type Fanout struct {
	// Timeout bounds the whole fan-out of one alert.
	Timeout model.Duration `yaml:"timeout"`
	// MaxConcurrent bounds the deliveries of one alert in flight at once.
	MaxConcurrent int `yaml:"max_concurrent"`
	// HealthStrategy decides which targets are skipped by health.
	HealthStrategy core.HealthStrategy `yaml:"health_strategy"`
	// DedupWindow is how long a delivery is remembered, so that a resent
	// notification does not reach a target twice.
	DedupWindow model.Duration `yaml:"dedup_window"`
}

// Receiver configures the /webhook endpoint.
type Receiver struct {
	// BearerToken, when set, must be sent by Alertmanager as
	// "Authorization: Bearer <token>" (http_config.authorization).
	BearerToken     publish.Secret `yaml:"bearer_token"`
	BearerTokenFile string         `yaml:"bearer_token_file"`
	// OpenPaths are the read endpoints that stay open without the token
	// when one is set; every other endpoint needs it. Nil means
	// DefaultOpenPaths: probes and metrics.
	OpenPaths []string `yaml:"open_paths"`
}

// DefaultOpenPaths are the endpoints open without the bearer token by
// default: the kubelet's probes and Prometheus's scrape, which hold no
// alert.
var DefaultOpenPaths = []string{"/-/healthy", "/-/ready", "/metrics"}

// ReadPaths are the read endpoints open_paths may name.
var ReadPaths = []string{"/", "/-/healthy", "/-/ready", "/metrics", "/api/v1/targets", "/api/v1/status",
	"/api/v1/deadletters", "/api/v1/deliveries", "/debug/pprof/"}

// Enrich configures how alerts are enriched.
type Enrich struct {
	Rules []Rule `yaml:"rules"`
	// Classifier, when set, asks an external classifier about each alert
	// (classifier.go).
	Classifier *Classifier `yaml:"classifier"`
}

// Rule sets labels and annotations on the alerts its matchers select.
type Rule struct {
	Name        string            `yaml:"name"`
	Match       []string          `yaml:"match"`
	Severity    string            `yaml:"severity"`
	Priority    string            `yaml:"priority"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// Matchers are parsed from Match.
	Matchers labels.Matchers `yaml:"-"`
}

// Default returns the configuration used for every field the file omits.
func Default() Config {
	return Config{
		Defaults: Defaults{
			Timeout:      model.Duration(10 * time.Second),
			SendResolved: true,
			Breaker: Breaker{
				Failures:         5,
				OpenFor:          model.Duration(5 * time.Second),
				HalfOpenRequests: 1,
			},
		},
		Fanout: Fanout{
			Timeout:        model.Duration(30 * time.Second),
			MaxConcurrent:  10,
			HealthStrategy: core.StrategySkipUnhealthy,
			DedupWindow:    model.Duration(15 * time.Minute),
		},
		Health:  DefaultHealth(),
		Outbox:  DefaultOutbox(),
		Tracing: DefaultTracing(),
		Storage: DefaultStorage(),
		Runtime: DefaultRuntime(),
	}
}

// fileConfig is the config file as written; targets are decoded one by one
// so that each is checked against the fields of its own type.
type fileConfig struct {
	Defaults *Defaults   `yaml:"defaults"`
	Fanout   *Fanout     `yaml:"fanout"`
	Enrich   *Enrich     `yaml:"enrich"`
	Receiver *Receiver   `yaml:"receiver"`
	Health   *Health     `yaml:"health"`
	Outbox   *Outbox     `yaml:"outbox"`
	Tracing  *Tracing    `yaml:"tracing"`
	Storage  *Storage    `yaml:"storage"`
	Runtime  *Runtime    `yaml:"runtime"`
	Targets  []yaml.Node `yaml:"targets"`
}

// LoadFile reads the config file and, when targetsDir is not empty, every
// targets file in that directory. The result is validated as a whole.
func LoadFile(path, targetsDir string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, sites, err := parse(data, path)
	if err != nil {
		return nil, err
	}
	if targetsDir != "" {
		files, err := TargetFiles(targetsDir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			ts, err := loadTargetsFile(f, &cfg.Defaults, sites)
			if err != nil {
				return nil, err
			}
			cfg.Targets = append(cfg.Targets, ts...)
			cfg.Files = append(cfg.Files, f)
		}
		if err := checkUniqueNames(cfg.Targets); err != nil {
			return nil, err
		}
	}
	if err := checkFallbacks(cfg.Targets, sites); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes and validates a config file's content; path names it in
// errors and anchors relative *_file paths.
func Parse(data []byte, path string) (*Config, error) {
	cfg, sites, err := parse(data, path)
	if err != nil {
		return nil, err
	}
	if err := checkFallbacks(cfg.Targets, sites); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parse is Parse without the check of fallbacks, which a targets
// directory may still satisfy; it returns where they are written.
func parse(data []byte, path string) (*Config, fallbackSites, error) {
	cfg := Default()
	fc := fileConfig{Defaults: &cfg.Defaults, Fanout: &cfg.Fanout, Enrich: &cfg.Enrich, Receiver: &cfg.Receiver, Health: &cfg.Health, Outbox: &cfg.Outbox}
	fc.Tracing, fc.Storage, fc.Runtime = &cfg.Tracing, &cfg.Storage, &cfg.Runtime
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, yamlError(path, err)
	}
	if err := decodeStrict(data, &fc); err != nil {
		return nil, nil, decodeError(path, err, &root, reflect.TypeOf(fc))
	}
	cfg.Files = []string{path}
	if err := cfg.validate(&position{file: path, root: &root}, filepath.Dir(path)); err != nil {
		return nil, nil, err
	}
	sites := fallbackSites{}
	ts, err := decodeTargets(fc.Targets, path, &cfg.Defaults, sites)
	if err != nil {
		return nil, nil, err
	}
	cfg.Targets = ts
	if err := checkUniqueNames(cfg.Targets); err != nil {
		return nil, nil, err
	}
	return &cfg, sites, nil
}

// decodeStrict decodes a whole YAML document, rejecting unknown keys. An
// empty document decodes to nothing.
func decodeStrict(data []byte, into any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) validate(pos *position, dir string) error {
	if c.Defaults.Timeout <= 0 {
		return pos.errorf("defaults.timeout", "must be positive")
	}
	if err := c.Defaults.Breaker.validate(pos, "defaults.breaker"); err != nil {
		return err
	}
	if err := validGroupBy(pos, "defaults.group_by", "", c.Defaults.GroupBy); err != nil {
		return err
	}
	if err := c.Defaults.RateLimit.validate(pos, "defaults.rate_limit", ""); err != nil {
		return err
	}
	if c.Fanout.Timeout <= 0 {
		return pos.errorf("fanout.timeout", "must be positive")
	}
	if c.Fanout.MaxConcurrent < 1 {
		return pos.errorf("fanout.max_concurrent", "must be at least 1, got %d", c.Fanout.MaxConcurrent)
	}
	if !slices.Contains(core.HealthStrategies(), c.Fanout.HealthStrategy) {
		return pos.errorf("fanout.health_strategy", "%q is not one of %s, %s, %s",
			c.Fanout.HealthStrategy, core.StrategySkipUnhealthy, core.StrategyPublishToAll, core.StrategySkipUnhealthyAndDegraded)
	}
	if c.Fanout.DedupWindow < 0 {
		return pos.errorf("fanout.dedup_window", "must not be negative")
	}
	if err := c.Outbox.validate(pos); err != nil {
		return err
	}
	if err := c.Health.validate(pos); err != nil {
		return err
	}
	if err := c.Tracing.validate(pos, dir); err != nil {
		return err
	}
	if err := c.Storage.validate(pos, dir, c.Fanout.DedupWindow); err != nil {
		return err
	}
	if err := c.Runtime.validate(pos); err != nil {
		return err
	}
	tok, err := publish.SecretFrom(c.Receiver.BearerToken, c.Receiver.BearerTokenFile, dir)
	if err != nil {
		return pos.errorf("receiver", "%v", err)
	}
	c.Receiver.BearerToken, c.Receiver.BearerTokenFile = tok, ""
	if c.Receiver.OpenPaths == nil {
		c.Receiver.OpenPaths = slices.Clone(DefaultOpenPaths)
	}
	for i, p := range c.Receiver.OpenPaths {
		if !slices.Contains(ReadPaths, p) {
			return pos.errorf(fmt.Sprintf("receiver.open_paths.%d", i), "%q is not a read endpoint; one of %s", p, strings.Join(ReadPaths, ", "))
		}
	}
	if c.Enrich.Classifier != nil {
		if err := c.Enrich.Classifier.validate(pos, dir); err != nil {
			return err
		}
	}
	for i := range c.Enrich.Rules {
		r := &c.Enrich.Rules[i]
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule-%d", i+1)
		}
		at := fmt.Sprintf("enrich.rules.%d", i)
		ms, bad, err := parseMatchers(r.Match)
		if err != nil {
			return pos.errorf(fmt.Sprintf("%s.match.%d", at, bad), "rule %q: %v", r.Name, err)
		}
		if r.Severity != "" && !publish.ValidSeverity(r.Severity) {
			return pos.errorf(at+".severity", "rule %q: severity %q is not one of critical, warning, info", r.Name, r.Severity)
		}
		r.Matchers = ms
	}
	return nil
}

// settings returns the block as the breaker package takes it.
func (b Breaker) settings() core.BreakerSettings {
	return core.BreakerSettings{Failures: b.Failures, OpenFor: time.Duration(b.OpenFor), HalfOpenRequests: b.HalfOpenRequests}
}

func (b *Breaker) validate(pos *position, at string) error {
	if b.Failures < 1 {
		return pos.errorf(at+".failures", "must be at least 1")
	}
	if b.OpenFor <= 0 {
		return pos.errorf(at+".open_for", "must be positive")
	}
	if b.HalfOpenRequests < 1 {
		return pos.errorf(at+".half_open_requests", "must be at least 1")
	}
	return nil
}

// parseMatchers parses every expression; on error it also returns the
// index of the expression that failed, so that the error names its line.
func parseMatchers(exprs []string) (labels.Matchers, int, error) {
	var all labels.Matchers
	for i, e := range exprs {
		ms, err := labels.ParseMatchers(e)
		if err != nil {
			return nil, i, fmt.Errorf("matcher %q: %w", e, err)
		}
		all = append(all, ms...)
	}
	return all, 0, nil
}
