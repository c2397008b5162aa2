package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The layout of a bbolt file's meta pages (bbolt's internal/common): a
// 16-byte page header, then magic, version, page size, flags, the root
// bucket (16 bytes), the freelist page, the high-water page id, the
// transaction id and a checksum. Pages 0 and 1 are the two meta pages.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
)

// checkFile checks an existing store file before bbolt maps it: bbolt
// initialises an empty file as a new store (losing what it held) and
// faults reading past the end of a truncated one. It returns nil for a
// file that does not exist yet.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox store %s cannot be read: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("outbox store %s cannot be read: %w", path, err)
	}
	size := st.Size()
	if size == 0 {
		return corrupt(path, "the file is empty (0 bytes), so whatever it held is gone; am-fanout never turns a used store into a new one")
	}
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := io.ReadFull(f, first); err != nil {
		return corrupt(path, fmt.Sprintf("the file is %d bytes, too short for a store's first page", size))
	}
	pageSize, pages, ok := meta(first)
	if !ok {
		// The first meta page may be the one a crash damaged; the second
		// one sits one page further, at the size the OS uses by default.
		second := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(second, int64(os.Getpagesize())); err != nil {
			return corrupt(path, "it is not an outbox store (no valid meta page)")
		}
		if pageSize, pages, ok = meta(second); !ok {
			return corrupt(path, "it is not an outbox store (no valid meta page)")
		}
	}
	if want := int64(pages) * int64(pageSize); size < want {
		return corrupt(path, fmt.Sprintf("it is truncated: its meta page counts %d pages of %d bytes (%d bytes) but the file has %d bytes", pages, pageSize, want, size))
	}
	return nil
}

// meta reads a meta page's page size and page count; ok is false when
// the page is not a valid meta page.
func meta(page []byte) (pageSize uint32, pages uint64, ok bool) {
	m := page[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return 0, 0, false
	}
	pageSize = le.Uint32(m[8:])
	pages = le.Uint64(m[40:])
	if pageSize < 512 || pageSize&(pageSize-1) != 0 || pages < 4 {
		return 0, 0, false
	}
	return pageSize, pages, true
}

func corrupt(path, what string) error {
	return fmt.Errorf("outbox store %s is damaged: %s. Its pending deliveries and dead letters are in it: restore it from a backup, or move it away to start with an empty outbox, losing them", path, what)
}
