package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	commoncfg "github.com/prometheus/common/config"
)

// Secret is a value that prints as "<secret>" in YAML and JSON.
type Secret = commoncfg.Secret

// SecretFrom returns the inline secret or the content of file (trimmed of
// surrounding white space), resolving a relative file against dir. Setting
// both is an error; setting neither returns "".
func SecretFrom(inline Secret, file, dir string) (Secret, error) {
	if inline != "" && file != "" {
		return "", errors.New("the value and its _file are mutually exclusive")
	}
	if file == "" {
		return inline, nil
	}
	data, err := os.ReadFile(ResolvePath(dir, file))
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return Secret(s), nil
}

// RequiredSecret is SecretFrom for a secret that must be set; name is the
// field's yaml key.
func RequiredSecret(inline *Secret, file *string, name, dir string) error {
	s, err := SecretFrom(*inline, *file, dir)
	if err != nil {
		return fmt.Errorf("%s, %s_file: %w", name, name, err)
	}
	if s == "" {
		return fmt.Errorf("one of %s or %s_file is required", name, name)
	}
	*inline = s
	return nil
}

// resolve makes a relative path relative to dir.
func ResolvePath(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
