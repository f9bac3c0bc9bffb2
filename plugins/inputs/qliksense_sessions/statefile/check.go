package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckPath checks that a state file can be kept at path (state_file): its
// folder exists and takes new files, and the file, if there is one, can be
// read. The plugin's Init fails on these rather than its Start, where the
// sessions would be lost without anyone noticing.
func CheckPath(path string) error {
	dir := filepath.Dir(path)
	shown := dir
	if abs, err := filepath.Abs(dir); err == nil {
		shown = abs // a relative path is relative to Telegraf's working folder
	}
	const fix = "create it, or point state_file elsewhere"
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state_file %q: folder %q does not exist: %s (the user Telegraf runs as must be able to write in it)", path, shown, fix)
	case err != nil:
		return fmt.Errorf("state_file %q: folder %q cannot be used (%w): %s", path, shown, pathErr(err), fix)
	case !info.IsDir():
		return fmt.Errorf("state_file %q: %q is not a folder: point state_file to a file in a folder", path, shown)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("state_file %q is a folder: give a file name in it, e.g. %q", path, filepath.Join(path, "qliksense_sessions.json"))
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(path)+".probe-*")
	if err != nil {
		return fmt.Errorf("state_file %q: cannot create files in folder %q (%w): "+
			"give the user Telegraf runs as write access to it, or point state_file elsewhere", path, shown, pathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	if f, err := os.Open(path); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state_file %q cannot be read (%w): give the user Telegraf runs as read and write access to it", path, pathErr(err))
	}
	return nil
}

// pathErr is the cause of a file system error without the path, which the
// messages above name themselves.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
