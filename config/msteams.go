package config

import (
	"fmt"

	commoncfg "github.com/prometheus/common/config"
)

// MSTeams is the block of a "msteams" target: a Microsoft Teams channel
// reached through a Workflows (Power Automate) webhook, created from the
// template "Post to a channel when a webhook request is received".
type MSTeams struct {
	// URL is the workflow's HTTP trigger URL; its sig parameter is a
	// credential, so the URL is a secret.
	URL        Secret                     `yaml:"url"`
	URLFile    string                     `yaml:"url_file"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
	// Templates override the card's "title" and "text".
	Templates Templates `yaml:"templates"`
}

func (m *MSTeams) validate(dir string) error {
	if err := requiredSecret(&m.URL, &m.URLFile, "url", dir); err != nil {
		return err
	}
	m.URLFile = ""
	if err := checkURL(string(m.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := m.Templates.validate("title", "text"); err != nil {
		return err
	}
	return httpConfig(&m.HTTPConfig, dir)
}
