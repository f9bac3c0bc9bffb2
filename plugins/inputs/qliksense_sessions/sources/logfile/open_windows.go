//go:build windows

package logfile

import (
	"os"
	"syscall"
)

// openShared opens path for reading so that Qlik Sense can still append to,
// rename and delete it while the handle is open: FILE_SHARE_READ,
// FILE_SHARE_WRITE and FILE_SHARE_DELETE (os.Open leaves out the last, so a
// rename by the proxy's log appender would fail with a sharing violation).
// A file renamed or moved while open stays readable through the handle.
func openShared(path string) (*os.File, error) {
	if path == "" {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.ERROR_FILE_NOT_FOUND}
	}
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE,
		nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(h), path)
	// A file glob in a folder matches no named pipe (they live in
	// \\.\pipe\), but a folder or a device opened by name is closed here.
	if err := checkRegular(f, path); err != nil {
		return nil, err
	}
	return f, nil
}
