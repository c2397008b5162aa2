package config

import (
	"fmt"
	"net/url"

	commoncfg "github.com/prometheus/common/config"
)

// The body formats of a webhook target.
const (
	// FormatAlertmanager sends Alertmanager's v4 webhook payload holding
	// this one alert with its group context.
	FormatAlertmanager = "alertmanager"
	// FormatEnriched sends the EnrichedAlert as JSON.
	FormatEnriched = "enriched"
)

// Webhook is the block of a "webhook" target: a generic HTTP endpoint.
type Webhook struct {
	// URL may hold a token, so it is a secret.
	URL        Secret                     `yaml:"url"`
	URLFile    string                     `yaml:"url_file"`
	Format     string                     `yaml:"format"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

func (w *Webhook) validate(dir string) error {
	if err := requiredSecret(&w.URL, &w.URLFile, "url", dir); err != nil {
		return err
	}
	w.URLFile = ""
	if err := checkURL(string(w.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if w.Format != FormatAlertmanager && w.Format != FormatEnriched {
		return fmt.Errorf("format %q is not one of %s, %s", w.Format, FormatAlertmanager, FormatEnriched)
	}
	return httpConfig(&w.HTTPConfig, dir)
}

// httpConfig validates an http_config block and anchors its files at dir.
func httpConfig(c *commoncfg.HTTPClientConfig, dir string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("http_config: %w", err)
	}
	c.SetDirectory(dir)
	return nil
}

// checkURL accepts absolute http and https URLs. Its errors never repeat
// the URL, which may hold a secret.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	return nil
}

// File is the block of a "file" target: one JSON line per delivery.
type File struct {
	// Path is resolved against the config file's directory.
	Path string `yaml:"path"`
	// Fsync flushes every line to disk before the delivery succeeds.
	Fsync bool `yaml:"fsync"`
}

func (f *File) validate(dir string) error {
	if f.Path == "" {
		return fmt.Errorf("path is required")
	}
	f.Path = resolve(dir, f.Path)
	return nil
}
