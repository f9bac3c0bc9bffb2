//go:build !windows

package logfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mkfifo makes a FIFO at path. Opening it for reading blocks until a writer
// opens it, unless the open is non-blocking.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	t.Cleanup(func() { unblockFIFO(path) })
}

// unblockFIFO opens the FIFO for writing and closes it, which lets a reader
// blocked in open(2) go on (the code before issue 21 blocked there forever):
// a failing test then ends instead of leaving a goroutine stuck.
func unblockFIFO(path string) {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		syscall.Close(fd)
	}
}

// A FIFO that the live glob matches, and one the rotated glob matches, are
// skipped with one warning each: the regular file beside them is read and
// followed, and Run returns when asked to (issue 21, defect 8: opening a
// FIFO without a writer blocked the source for good, and the shutdown with
// it).
func TestFIFOsAreSkipped(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "SENSE0_AuditActivity_Proxy.txt") // sorts before the regular file
	rotatedFIFO := filepath.Join(dir, "SENSE1_AuditActivity_Proxy_2026-03-02T07.00.00Z.log")
	mkfifo(t, fifo)
	mkfifo(t, rotatedFIFO)
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 3))

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}, ArchiveMaxAge: 24 * time.Hour})
	h.waitRows(3)
	appendFile(t, live, rows("SENSE1", 4, 5))
	h.waitRows(5)
	require.Equal(t, keyRange("SENSE1", 1, 5), h.keys())
	h.waitPolls(3) // the live FIFO was looked at again: still one warning
	for _, p := range []string{fifo, rotatedFIFO} {
		require.Equal(t, 1, h.log.linesWith("W!", "Skipping "+p+": it is a named pipe (FIFO), not a regular file"), p)
	}
	require.Equal(t, uint64(2), h.src.Stats().FilesSkipped)
	require.Zero(t, h.src.Stats().ReadErrors)
	require.Equal(t, 1, h.src.Stats().OpenFiles)
	h.stop()
}

// A FIFO that appears while the source follows (a new path of the live
// glob, or in place of a live file that rotated away) is skipped too; when a
// regular file takes its place, that file is followed.
func TestFIFOAppearsWhileFollowing(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 2))
	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRows(2)
	h.waitRebuilt()

	// A new path that is a FIFO, found at the next glob.
	fifo := filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt")
	mkfifo(t, fifo)
	require.Eventually(t, func() bool { return h.log.contains("W!", "Skipping "+fifo) }, 10*time.Second, time.Millisecond)
	appendFile(t, live, rows("SENSE1", 3, 3))
	h.waitRows(3)

	// The live file rotates away and a FIFO takes its place: the rotated
	// file is read to its end, the FIFO skipped.
	appendFile(t, live, rows("SENSE1", 4, 4))
	require.NoError(t, os.Rename(live, filepath.Join(dir, "SENSE1_AuditActivity_Proxy_2026-03-02T07.00.00Z.log")))
	mkfifo(t, live)
	h.waitRows(4)
	require.Eventually(t, func() bool { return h.log.contains("W!", "Skipping "+live) }, 10*time.Second, time.Millisecond)

	// A regular file replaces the FIFO: followed from its first row.
	require.NoError(t, os.Remove(live))
	writeFile(t, live, header+rows("SENSE1", 5, 6))
	h.waitRows(6)
	require.Equal(t, keyRange("SENSE1", 1, 6), h.keys())
	h.waitPolls(3)
	require.Equal(t, 1, h.log.linesWith("W!", "Skipping "+fifo))
	require.Equal(t, 1, h.log.linesWith("W!", "Skipping "+live))
	require.Equal(t, uint64(2), h.src.Stats().FilesSkipped)
	h.stop()
}

// openShared does not block on a FIFO without a writer: a path that was a
// regular file when looked at may be a FIFO when opened.
func TestOpenSharedDoesNotBlockOnAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "SENSE1_AuditActivity_Proxy.txt")
	mkfifo(t, fifo)
	done := make(chan error, 1)
	go func() {
		f, err := openShared(fifo)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "it is a named pipe (FIFO), not a regular file")
	case <-time.After(5 * time.Second):
		unblockFIFO(fifo)
		t.Fatal("openShared blocked on a FIFO")
	}
}

// Sockets and folders that the glob matches are skipped as FIFOs are.
func TestSocketAndFolderAreSkipped(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "SENSE0_AuditActivity_Proxy.txt")
	require.NoError(t, os.Mkdir(folder, 0o750))
	// A socket's path must be short (108 bytes): bind it in a folder of
	// its own and link it (a symbolic link to a socket is followed to the
	// socket).
	sockDir := t.TempDir()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: filepath.Join(sockDir, "s")}))
	sock := filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt")
	require.NoError(t, os.Symlink(filepath.Join(sockDir, "s"), sock))
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 2))

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRows(2)
	h.waitPolls(3)
	require.Equal(t, 1, h.log.linesWith("W!", "Skipping "+folder+": it is a folder, not a regular file"))
	require.Equal(t, 1, h.log.linesWith("W!", "Skipping "+sock+": it is a socket, not a regular file"))
	require.Equal(t, uint64(2), h.src.Stats().FilesSkipped)
	require.Zero(t, h.src.Stats().ReadErrors)
}
