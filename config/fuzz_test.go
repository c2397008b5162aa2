package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the loader arbitrary files: it may refuse them, never
// panic; a refusal names the file, and a file it accepts has every
// target named, typed and with its type's block.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"../examples/am-fanout.yml", "testdata/am-fanout.yml"} {
		if data, err := os.ReadFile(seed); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("targets:\n  - {name: a, type: file, path: a.jsonl}\n"))
	f.Add([]byte("targets:\n  - {name: a, type: webhook, url: 'http://h/x', match: ['severity=~\"a|b\"']}\n"))
	f.Add([]byte("defaults: {timeout: 1m}\nfanout: {health_strategy: publish_to_all}\n"))
	f.Add([]byte("targets: [1, 2]\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "am-fanout.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, tg := range cfg.Targets {
			if tg.Name == "" || tg.Type == "" || tg.Spec == nil || tg.Source == "" {
				t.Fatalf("accepted target without name, type, block or source: %+v", tg)
			}
		}
	})
}
