package recorder

import (
	"io"
	"os"
)

// FS is the little of the file system the recorder writes through: the
// seam where tests put a disk that fills up.
type FS interface {
	Create(name string) (File, error)
	Rename(from, to string) error
	Remove(name string) error
	MkdirAll(path string) error
	// SyncDir makes a folder's entries durable (a rename is not until
	// its folder is synced).
	SyncDir(path string) error
}

// File is a file being written.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// OSFS is the real file system.
type OSFS struct{}

// Create creates or truncates name.
func (OSFS) Create(name string) (File, error) { return os.Create(name) }

// Rename renames a file.
func (OSFS) Rename(from, to string) error { return os.Rename(from, to) }

// Remove removes a file.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll creates a folder and its parents.
func (OSFS) MkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

// SyncDir fsyncs a folder.
func (OSFS) SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
