package file

import (
	"fmt"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Config is the block of a "file" target: one JSON line per delivery.
type Config struct {
	// Path is resolved against the config file's directory.
	Path string `yaml:"path"`
	// Fsync flushes every line to disk before the delivery succeeds.
	Fsync bool `yaml:"fsync"`
}

// Validate implements publish.Config.
func (c *Config) Validate(dir string) error {
	if c.Path == "" {
		return fmt.Errorf("path is required")
	}
	c.Path = publish.ResolvePath(dir, c.Path)
	return nil
}

// NewPublisher implements publish.Config.
func (c *Config) NewPublisher(string, publish.Options) (core.Publisher, error) {
	return publish.Built(newFile(c))
}
