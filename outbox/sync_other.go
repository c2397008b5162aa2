//go:build !linux

package outbox

import "os"

// fdatasync syncs f; other systems than Linux have only fsync for it.
func fdatasync(f *os.File) error { return f.Sync() }
