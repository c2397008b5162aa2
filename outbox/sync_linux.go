package outbox

import (
	"os"
	"syscall"
)

// fdatasync syncs f's data and what reading it back needs, as bbolt does
// on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
