package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/am-fanout/am-fanout/core"
)

// file appends each alert, or with group_by: notification each
// notification, as one line of JSON (JSON Lines) to a local file, an
// audit log that survives every remote target being down.
type file struct {
	fsync bool

	mu sync.Mutex
	f  *os.File
	// torn says the file does not end in a newline (a crash or a failed
	// write cut a line), so the next line must start on its own.
	torn bool
}

func newFile(s *Config) (*file, error) {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", s.Path, err)
	}
	f, err := os.OpenFile(s.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening alert file: %w", err)
	}
	torn, err := endsTorn(s.Path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checking for a torn last line: %w", err)
	}
	return &file{fsync: s.Fsync, f: f, torn: torn}, nil
}

// endsTorn reports whether the file is non-empty and its last byte is not
// a newline.
func endsTorn(path string) (bool, error) {
	r, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, st.Size()-1); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return last[0] != '\n', nil
}

// Publish appends the alert as one line.
func (p *file) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	return p.append(ctx, a, "alert")
}

// PublishGroup appends the notification as one line (group_by:
// notification): the core.Notification JSON, its group and its alerts.
func (p *file) PublishGroup(ctx context.Context, n *core.Notification) error {
	return p.append(ctx, n, "notification")
}

// append writes v as one line of JSON; what names it in errors. The line
// is written with a single write under the lock, so concurrent deliveries
// never interleave.
func (p *file) append(ctx context.Context, v any, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", what, err)
	}
	line = append(line, '\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.torn {
		line = append([]byte{'\n'}, line...)
	}
	n, err := p.f.Write(line)
	if err != nil {
		// A partial write leaves a cut line; a full disk may be freed, so
		// the delivery may succeed later.
		if n > 0 {
			p.torn = true
		}
		return core.Retryable(0, 0, fmt.Errorf("writing %s: %w", what, err))
	}
	p.torn = false
	if p.fsync {
		if err := p.f.Sync(); err != nil {
			return core.Retryable(0, 0, fmt.Errorf("syncing %s: %w", what, err))
		}
	}
	return nil
}

// Close closes the file; later deliveries fail.
func (p *file) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.Close()
}
