package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish"
)

// parseSpecForTest parses a config file holding the given targets YAML and
// returns the one target's spec.
func parseSpecForTest(t *testing.T, dir, targets string) (publish.Config, error) {
	t.Helper()
	cfg, err := Parse([]byte("targets:\n"+targets), filepath.Join(dir, "am-fanout.yml"))
	if err != nil {
		return nil, err
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("want 1 target, got %d", len(cfg.Targets))
	}
	return cfg.Targets[0].Spec.(publish.Config), nil
}

func writeFileForTest(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// specCase is one target block of type T and what parsing it must give:
// an error holding every wantErr, or a spec that check accepts.
type specCase[T publish.Config] struct {
	name    string
	yaml    string
	check   func(t *testing.T, s T)
	wantErr []string
}

// runSpecCases parses every case in dir; no error may repeat secret.
func runSpecCases[T publish.Config](t *testing.T, dir, secret string, cases []specCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := parseSpecForTest(t, dir, tc.yaml)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("want an error holding %q, got none", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not hold %q", err, w)
					}
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("want no error, got %v", err)
			}
			s, ok := spec.(T)
			if !ok {
				t.Fatalf("spec is %T, want %T", spec, s)
			}
			tc.check(t, s)
		})
	}
}
