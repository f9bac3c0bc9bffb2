package logfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// notRegularError is the error of opening a path that names no regular
// file: a FIFO, a socket, a device, a folder. Such a path is skipped, with
// one warning while it stays so.
type notRegularError struct {
	path string
	kind string // "named pipe (FIFO)", "folder", ...
}

func (e *notRegularError) Error() string {
	return fmt.Sprintf("it is a %s, not a regular file", e.kind)
}

// kindOf names a file type that is not a regular file.
func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode.IsDir():
		return "folder"
	default:
		return fmt.Sprintf("special file (mode %s)", mode.Type())
	}
}

// statRegular looks at path without opening it (which may block on a FIFO
// or a device): an error if it names no regular file. A symbolic link is
// followed.
func statRegular(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return &notRegularError{path: path, kind: kindOf(info.Mode())}
	}
	return nil
}

// checkRegular closes f unless it is a regular file: the path may have
// been replaced between statRegular and the open.
func checkRegular(f *os.File, path string) error {
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = &notRegularError{path: path, kind: kindOf(info.Mode())}
	}
	if err != nil {
		f.Close()
		return err
	}
	return nil
}

// skipSpecial warns once about a path that is not a regular file, and
// counts it in Stats.FilesSkipped; it tells whether err was such.
func (s *Source) skipSpecial(err error) bool {
	var nr *notRegularError
	if !errors.As(err, &nr) {
		return false
	}
	if s.special[nr.path] == nr.kind {
		return true // said already
	}
	if s.special == nil {
		s.special = make(map[string]string)
	}
	s.special[nr.path] = nr.kind
	s.stats.filesSkipped.Add(1)
	s.log.Warnf("Skipping %s: %v; only regular files are read (it is looked at again while it matches a glob)", nr.path, err)
	return true
}

// forgetSpecial forgets the skipped paths that are gone or regular now, so
// that the table stays as small as what the globs match, and a path that is
// special again is warned about again.
func (s *Source) forgetSpecial() {
	for path := range s.special {
		if info, err := os.Stat(path); err != nil || info.Mode().IsRegular() {
			delete(s.special, path)
		}
	}
}
