package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/publish"
)

// Classifier configures the optional external classifier (enrich.classifier):
// an HTTP endpoint that is asked about each alert before its first delivery
// attempt and may set its severity, priority, team, summary, runbook and
// labels. It never delays the webhook's answer and fails open to the rules.
type Classifier struct {
	// URL may hold a token, so it is a secret; URLFile reads it from a file.
	URL     publish.Secret `yaml:"url"`
	URLFile string         `yaml:"url_file"`
	// Timeout bounds one classification, waiting for a free request
	// included.
	Timeout model.Duration `yaml:"timeout"`
	// CacheTTL is how long an answer is kept per fingerprint and status;
	// CacheSize bounds how many answers are kept.
	CacheTTL  model.Duration `yaml:"cache_ttl"`
	CacheSize int            `yaml:"cache_size"`
	// MaxConcurrent bounds the requests in flight at once.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Headers are sent with every request; their values are secrets.
	Headers map[string]publish.Secret `yaml:"headers"`
	// HTTPConfig is prometheus/common's client block: authorization,
	// basic_auth, tls_config, proxy, http_headers (with files).
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// The defaults of the classifier block.
const (
	DefaultClassifierTimeout       = 2 * time.Second
	DefaultClassifierCacheTTL      = 10 * time.Minute
	DefaultClassifierCacheSize     = 10000
	DefaultClassifierMaxConcurrent = 8
)

// UnmarshalYAML applies the defaults, then the block.
func (c *Classifier) UnmarshalYAML(n *yaml.Node) error {
	type plain Classifier
	if err := checkKeys("", n, reflect.TypeFor[plain]()); err != nil {
		// The strict decoder does not check a block with its own
		// unmarshaler; this says it as the decoder would, "line N: ...".
		return fmt.Errorf("line %s", strings.TrimPrefix(err.Error(), ":"))
	}
	*c = Classifier{
		Timeout: model.Duration(DefaultClassifierTimeout), CacheTTL: model.Duration(DefaultClassifierCacheTTL),
		CacheSize: DefaultClassifierCacheSize, MaxConcurrent: DefaultClassifierMaxConcurrent,
		HTTPConfig: commoncfg.DefaultHTTPClientConfig,
	}
	return n.Decode((*plain)(c))
}

// validate reads the URL file and checks the block; its errors never
// repeat the URL or a header value.
func (c *Classifier) validate(pos *position, dir string) error {
	const at = "enrich.classifier"
	if err := publish.RequiredSecret(&c.URL, &c.URLFile, "url", dir); err != nil {
		return pos.errorf(at+".url", "%v", err)
	}
	c.URLFile = ""
	if err := publish.CheckURL(string(c.URL)); err != nil {
		return pos.errorf(at+".url", "%v", err)
	}
	if c.Timeout <= 0 {
		return pos.errorf(at+".timeout", "must be positive")
	}
	if c.CacheTTL < 0 {
		return pos.errorf(at+".cache_ttl", "must not be negative")
	}
	if c.CacheSize < 1 {
		return pos.errorf(at+".cache_size", "must be at least 1, got %d", c.CacheSize)
	}
	if c.MaxConcurrent < 1 {
		return pos.errorf(at+".max_concurrent", "must be at least 1, got %d", c.MaxConcurrent)
	}
	for name := range c.Headers {
		if !validHeaderName(name) {
			return pos.errorf(at+".headers", "%q is not a valid header name", name)
		}
	}
	if err := publish.ValidateHTTPConfig(&c.HTTPConfig, dir); err != nil {
		return pos.errorf(at+".http_config", "%v", err)
	}
	return nil
}

// validHeaderName accepts the token characters of RFC 9110.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
