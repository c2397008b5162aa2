package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

func newTestFile(t *testing.T, path string, fsync bool) *file {
	t.Helper()
	f, err := newFile(&Config{Path: path, Fsync: fsync})
	if err != nil {
		t.Fatalf("newFile: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readLines returns the file's lines; the file must end in a newline.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("file does not end in a newline: the last line is torn")
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func decodeLine(t *testing.T, line string) *core.EnrichedAlert {
	t.Helper()
	var a core.EnrichedAlert
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("line is not a whole EnrichedAlert: %v\n%s", err, line)
	}
	return &a
}

func TestFileWritesOneJSONLinePerDelivery(t *testing.T) {
	for _, fsync := range []bool{false, true} {
		t.Run(fmt.Sprintf("fsync=%v", fsync), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new", "dir", "alerts.jsonl")
			p := newTestFile(t, path, fsync)
			for _, a := range []*core.EnrichedAlert{publishtest.Alert(), publishtest.ResolvedAlert()} {
				if err := p.Publish(context.Background(), a); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			lines := readLines(t, path)
			if len(lines) != 2 {
				t.Fatalf("file has %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			for i, want := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
				if got := decodeLine(t, lines[i]); got.Alert.Status != want || got.Alert.Fingerprint != "a1b2c3d4e5f60718" {
					t.Errorf("line %d holds alert %s %s, want %s a1b2c3d4e5f60718", i+1, got.Alert.Status, got.Alert.Fingerprint, want)
				}
			}
		})
	}
}

func TestFileConcurrentDeliveriesNeverInterleave(t *testing.T) {
	const writers, each = 32, 25
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p := newTestFile(t, path, false)
	// Long annotations make each line bigger than a pipe buffer, so an
	// interleaving would show.
	big := strings.Repeat("x", 8<<10)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a := publishtest.Alert()
				a.Alert.Fingerprint = fmt.Sprintf("w%02d-%03d", w, i)
				a.Alert.Annotations["description"] = big
				if err := p.Publish(context.Background(), a); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Publish: %v", err)
	}
	lines := readLines(t, path)
	if len(lines) != writers*each {
		t.Fatalf("file has %d lines, want exactly %d", len(lines), writers*each)
	}
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		a := decodeLine(t, l)
		if seen[a.Alert.Fingerprint] {
			t.Errorf("alert %s written twice", a.Alert.Fingerprint)
		}
		seen[a.Alert.Fingerprint] = true
	}
}

func TestFileRepairsTornLastLine(t *testing.T) {
	tests := []struct {
		name      string
		existing  string
		wantLines int // lines after one delivery, the last one being it
	}{
		{name: "empty file", existing: "", wantLines: 1},
		{name: "whole lines kept as they are", existing: "{\"old\":1}\n", wantLines: 2},
		{name: "torn line ends before the new one", existing: "{\"old\":1}\n{\"alert\":{\"fingerpr", wantLines: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
				t.Fatal(err)
			}
			p := newTestFile(t, path, false)
			if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			lines := readLines(t, path)
			if len(lines) != tc.wantLines {
				t.Fatalf("file has %d lines, want %d:\n%s", len(lines), tc.wantLines, strings.Join(lines, "\n"))
			}
			decodeLine(t, lines[len(lines)-1])
			data, _ := os.ReadFile(path)
			if !bytes.HasPrefix(data, []byte(tc.existing)) {
				t.Errorf("existing content was changed")
			}
		})
	}
}

func TestFileUnwritablePathFailsAtConstruction(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{name: "parent is a file", path: filepath.Join(regular, "alerts.jsonl"), want: "not a directory"},
		{name: "path is a directory", path: dir, want: "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newFile(&Config{Path: tc.path})
			if err == nil {
				p.Close()
				t.Fatalf("newFile(%s) succeeded, want an error", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("newFile error %q: want it to name the path and say %q", err, tc.want)
			}
		})
	}
}

func TestFileRespectsDoneContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p := newTestFile(t, path, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(ctx, publishtest.Alert()); err != context.Canceled {
		t.Errorf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Errorf("a cancelled delivery wrote to the file (size %d, %v)", st.Size(), err)
	}
}

func TestFileClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p, err := publish.New(&core.Target{Name: "audit", Type: "file", Spec: &Config{Path: path}}, publish.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c, ok := p.(io.Closer)
	if !ok {
		t.Fatal("the file publisher is no io.Closer, so reloads would leak its file")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Publish(context.Background(), publishtest.Alert()); err == nil {
		t.Error("Publish after Close succeeded")
	}
}

// BenchmarkFilePublish measures one appended line, without fsync.
func BenchmarkFilePublish(b *testing.B) {
	p, err := newFile(&Config{Path: filepath.Join(b.TempDir(), "alerts.jsonl")})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	a := publishtest.Alert()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Publish(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
}
