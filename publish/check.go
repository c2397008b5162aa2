package publish

import (
	"fmt"
	"net/url"

	commoncfg "github.com/prometheus/common/config"
)

// ValidateHTTPConfig validates an http_config block and anchors its files at dir.
func ValidateHTTPConfig(c *commoncfg.HTTPClientConfig, dir string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("http_config: %w", err)
	}
	c.SetDirectory(dir)
	return nil
}

// CheckURL accepts absolute http and https URLs. Its errors never repeat
// the URL, which may hold a secret.
func CheckURL(s string) error {
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

// ValidSeverity reports whether s is one of am-fanout's severities.
func ValidSeverity(s string) bool {
	return s == "critical" || s == "warning" || s == "info"
}
