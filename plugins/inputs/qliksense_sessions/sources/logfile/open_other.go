//go:build !windows

package logfile

import "os"

// openShared opens path for reading. On Unix an open file never stops its
// writer from renaming or deleting it; open_windows.go asks Windows for the
// same.
func openShared(path string) (*os.File, error) { return os.Open(path) }
