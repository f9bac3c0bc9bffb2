// Package statefile keeps the open sessions on disk across restarts: a
// versioned JSON file, replaced atomically so that a crash at any moment
// leaves either the old or the new file.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/state"
)

// Version is the file format this build writes and reads.
const Version = 1

// File is the state file's content.
type File struct {
	Version  int            `json:"version"`
	SavedAt  time.Time      `json:"saved_at"`
	Sessions []state.Record `json:"sessions"`
}

// ErrVersion marks a file written in another format version.
var ErrVersion = errors.New("unsupported state file version")

// Save writes the records to path atomically: a temporary file in the same
// folder, fsync, rename over path, fsync of the folder.
func Save(path string, records []state.Record, savedAt time.Time) error {
	data, err := json.Marshal(File{Version: Version, SavedAt: savedAt.UTC(), Sessions: records})
	if err != nil {
		return fmt.Errorf("encoding the state failed: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %q failed: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %q failed: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %q failed: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %q failed: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %q failed: %w", path, err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync() //nolint:errcheck // not every OS or file system can sync a directory
		d.Close()
	}
	return nil
}

// Load reads a state file. A missing file is no error: it returns no
// records and os.ErrNotExist-wrapping errors are not returned.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file %q failed: %w", path, err)
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("state file %q is corrupt (%w): delete it or fix it", path, err)
	}
	if probe.Version == nil {
		return nil, fmt.Errorf("state file %q has no version: it is not a qliksense_sessions state file; delete it or point state_file elsewhere", path)
	}
	if *probe.Version != Version {
		return nil, fmt.Errorf("state file %q: %w %d (this build reads version %d): delete it, or run the release that wrote it", path, ErrVersion, *probe.Version, Version)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("state file %q is corrupt (%w): delete it or fix it", path, err)
	}
	return &f, nil
}
