package config

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/file"
	"github.com/am-fanout/am-fanout/publish/webhook"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadFileFixture(t *testing.T) {
	cfg, err := LoadFile("testdata/am-fanout.yml", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"testdata/am-fanout.yml"}, cfg.Files)
	assert.Equal(t, dur(5*time.Second), cfg.Defaults.Timeout)
	assert.Equal(t, Breaker{Failures: 3, OpenFor: dur(5 * time.Second), HalfOpenRequests: 1}, cfg.Defaults.Breaker)
	assert.Equal(t, 4, cfg.Fanout.MaxConcurrent)
	assert.Equal(t, core.StrategyPublishToAll, cfg.Fanout.HealthStrategy)
	require.Len(t, cfg.Enrich.Rules, 1)
	assert.Equal(t, "payments-critical", cfg.Enrich.Rules[0].Name)

	require.Len(t, cfg.Targets, 2)
	audit, ticketing := cfg.Targets[0], cfg.Targets[1]
	assert.Equal(t, filepath.Join("testdata", "data", "alerts.jsonl"), audit.Spec.(*file.Config).Path)
	assert.Equal(t, 5*time.Second, audit.Timeout, "the changed default timeout")
	assert.Equal(t, uint32(3), audit.Breaker.Failures, "the changed default breaker")
	assert.Equal(t, "testdata/am-fanout.yml:16", audit.Source)

	w := ticketing.Spec.(*webhook.Config)
	assert.Equal(t, "http://ticketing.example.com:8080/alerts?token=fixture-token", string(w.URL))
	assert.Equal(t, webhook.FormatEnriched, w.Format)
	assert.Equal(t, 2*time.Second, ticketing.Timeout)
	assert.True(t, ticketing.Selector.Selects(map[string]string{"severity": "warning"}))
	assert.False(t, ticketing.Selector.Selects(map[string]string{"severity": "info"}))
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yml"), "")
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// kubeletDir builds a targets directory the way the kubelet mounts a
// Secret: the files live in a hidden timestamped folder, ..data links to
// it, and each visible name links through ..data.
func kubeletDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	const stamp = "..2026_01_01_00_00_00.000000001"
	for name, content := range files {
		writeFixture(t, dir, filepath.Join(stamp, name), content)
		require.NoError(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
	}
	require.NoError(t, os.Symlink(stamp, filepath.Join(dir, "..data")))
	return dir
}

// swapKubeletData repoints ..data at a new folder holding files, as the
// kubelet does when the Secret changes: one atomic rename.
func swapKubeletData(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		writeFixture(t, dir, filepath.Join(stamp, name), content)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(stamp, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
}

func TestTargetFiles(t *testing.T) {
	dir := kubeletDir(t, map[string]string{"t.yml": "targets: []\n"})
	writeFixture(t, dir, "..2026_01_01_00_00_00.000000001/unlinked.yml", "targets: []\n")
	writeFixture(t, dir, "b.yaml", "targets: []\n")
	writeFixture(t, dir, "a.yml", "targets: []\n")
	writeFixture(t, dir, ".hidden.yml", "targets: []\n")
	writeFixture(t, dir, "notes.txt", "not a target file\n")
	writeFixture(t, dir, "c.json", "{}\n")
	writeFixture(t, dir, "c.yml.bak", "targets: []\n")
	writeFixture(t, dir, "sub.yml/inner.yml", "targets: []\n")

	got, err := TargetFiles(dir)
	require.NoError(t, err)
	want := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "t.yml")}
	assert.Equal(t, want, got, "only visible *.yml/*.yaml files, symlinks followed, in name order")
}

func TestTargetFilesMissingDir(t *testing.T) {
	_, err := TargetFiles(filepath.Join(t.TempDir(), "nope"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "targets directory")
}

func TestLoadFileWithTargetsDir(t *testing.T) {
	confDir := t.TempDir()
	conf := writeFixture(t, confDir, "am-fanout.yml", "defaults:\n  timeout: 7s\ntargets:\n  - {name: audit, type: file, path: a.jsonl}\n")
	dir := kubeletDir(t, map[string]string{
		"t.yml":    "targets:\n  - name: from-secret\n    type: webhook\n    url_file: hook-url\n",
		"hook-url": "https://hooks.example.com/one\n",
	})
	writeFixture(t, dir, "b.yaml", "# no targets yet\n")

	cfg, err := LoadFile(conf, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{conf, filepath.Join(dir, "b.yaml"), filepath.Join(dir, "t.yml")}, cfg.Files)
	require.Len(t, cfg.Targets, 2, "the config file's targets, then the directory's")
	assert.Equal(t, "audit", cfg.Targets[0].Name)
	got := cfg.Targets[1]
	assert.Equal(t, "from-secret", got.Name)
	assert.Equal(t, filepath.Join(dir, "t.yml")+":2", got.Source)
	assert.Equal(t, 7*time.Second, got.Timeout, "the config file's defaults apply to the directory's targets")
	assert.Equal(t, "https://hooks.example.com/one", string(got.Spec.(*webhook.Config).URL),
		"url_file resolves against the targets file's directory, through the symlinks")

	swapKubeletData(t, dir, "..2026_01_02_00_00_00.000000001", map[string]string{
		"t.yml":    "targets:\n  - name: from-secret\n    type: webhook\n    url_file: hook-url\n    format: enriched\n",
		"hook-url": "https://hooks.example.com/two\n",
	})
	cfg, err = LoadFile(conf, dir)
	require.NoError(t, err)
	w := cfg.Targets[1].Spec.(*webhook.Config)
	assert.Equal(t, "https://hooks.example.com/two", string(w.URL), "a reload must see the new Secret")
	assert.Equal(t, webhook.FormatEnriched, w.Format)
}

func TestLoadFileTargetsDirErrors(t *testing.T) {
	tests := []struct {
		name   string
		file   string // content of the targets file t.yml
		want   []string
		atConf int // line of the config file the error names too, 0 for none
		line   int // line of t.yml the error names
	}{
		{
			name: "duplicate name across the config file and the directory",
			file: "targets:\n  - {name: other, type: file, path: o}\n  - {name: audit, type: file, path: b}\n",
			want: []string{`duplicate target name "audit"`}, atConf: 2, line: 3,
		},
		{
			name: "unknown key in a target",
			file: "targets:\n  - name: x\n    type: file\n    path: x\n    pth: y\n",
			want: []string{`unknown field "pth"`}, line: 5,
		},
		{
			name: "unknown top-level key",
			file: "target:\n  - {name: x, type: file, path: x}\n",
			want: []string{`unknown field "target"`}, line: 1,
		},
		{
			name: "invalid target",
			file: "targets:\n  - {name: Bad_Name, type: file, path: x}\n",
			want: []string{"DNS-1123"}, line: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeFixture(t, t.TempDir(), "am-fanout.yml", "targets:\n  - {name: audit, type: file, path: a}\n")
			dir := kubeletDir(t, map[string]string{"t.yml": tt.file})
			_, err := LoadFile(conf, dir)
			require.Error(t, err)
			at := filepath.Join(dir, "t.yml") + ":" + strconv.Itoa(tt.line)
			assert.Contains(t, err.Error(), at, "the error must name the targets file and line")
			if tt.atConf > 0 {
				assert.Contains(t, err.Error(), conf+":"+strconv.Itoa(tt.atConf), "the error must name the config file's definition")
			} else {
				assert.NotContains(t, err.Error(), conf)
			}
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
