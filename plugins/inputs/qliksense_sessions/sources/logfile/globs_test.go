package logfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A glob that matches no file is warned about at start, with what to check,
// and again every globWarnEvery while it still matches nothing; a file that
// appears later is logged when it is first followed, and its glob is quiet
// from then on (issue 21, defect 16: a typo gave only "following 0 files",
// and nothing said when files came).
func TestGlobMatchingNothingWarns(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "Adit", "*_AuditActivity_Proxy.txt") // a typo in the folder
	empty := filepath.Join(dir, "Audit", "*_AuditActivity_Proxy.txt")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "Audit"), 0o750))

	h := start(t, Config{Files: []string{missing, empty}, globWarnEvery: 300 * time.Millisecond})
	h.waitRebuilt()
	require.True(t, h.log.contains("W!", "logfile.files: "+missing+" matches no file: the folder "+filepath.Join(dir, "Adit")+" does not exist"))
	require.True(t, h.log.contains("W!", "logfile.files: "+empty+" matches no file: no file in "+filepath.Join(dir, "Audit")+" has such a name"))
	require.True(t, h.log.contains("I!", "following 0 files"))
	// Again while they match nothing, not at every glob (every 100 ms here).
	require.Eventually(t, func() bool { return h.log.linesWith("W!", empty+" matches no file") >= 3 }, 10*time.Second, time.Millisecond)
	require.LessOrEqual(t, h.log.linesWith("W!", missing+" matches no file"), 4)

	live := filepath.Join(dir, "Audit", "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 2))
	h.waitRows(2)
	require.Equal(t, 1, h.log.linesWith("I!", "Following "+live))
	warned := h.log.linesWith("W!", empty+" matches no file")
	before := h.log.linesWith("W!", missing+" matches no file")
	require.Eventually(t, func() bool { return h.log.linesWith("W!", missing+" matches no file") >= before+2 }, 10*time.Second, time.Millisecond)
	require.Equal(t, warned, h.log.linesWith("W!", empty+" matches no file"), "warned about a glob that matches a file")

	// A rotation: the new file is followed without an Info line.
	require.NoError(t, os.Rename(live, filepath.Join(dir, "Audit", "SENSE1_AuditActivity_Proxy_2026-03-02T07.00.00Z.log")))
	writeFile(t, live, header+rows("SENSE1", 3, 3))
	h.waitRows(3)
	require.Equal(t, 1, h.log.linesWith("I!", "Following "+live))
}

// Each live file followed at start is logged; one that cannot be opened is
// not counted as followed, and why is logged once (rate-limited per path,
// so that two unreadable files are both named) (issue 21, defect 16: an
// unreadable file counted in "following 2 files").
func TestUnreadableFilesAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "SENSE1_AuditActivity_Proxy.txt")
	writeFile(t, live, header+rows("SENSE1", 1, 2))
	// Symbolic links to themselves cannot be opened, even by root (who can
	// read a file of mode 0).
	loops := []string{filepath.Join(dir, "SENSE2_AuditActivity_Proxy.txt"), filepath.Join(dir, "SENSE3_AuditActivity_Proxy.txt")}
	for _, loop := range loops {
		if err := os.Symlink(filepath.Base(loop), loop); err != nil {
			t.Skipf("no symbolic links here (Windows without the privilege): %v", err)
		}
	}

	h := start(t, Config{Files: []string{filepath.Join(dir, "*_AuditActivity_Proxy.txt")}})
	h.waitRows(2)
	h.waitRebuilt()
	require.True(t, h.log.contains("I!", "from 1 live and 0 rotated or archived log files"))
	require.True(t, h.log.contains("I!", "following 1 files; 2 more matched the globs but are not followed (see above)"))
	require.Equal(t, 1, h.log.linesWith("I!", "Following "+live))
	h.waitPolls(5) // each poll tries the unreadable paths again
	for _, loop := range loops {
		require.Equal(t, 1, h.log.linesWith("E!", "Not following "+loop+": "), loop)
	}
	require.GreaterOrEqual(t, h.src.Stats().ReadErrors, uint64(10))

	// When the path names a readable file, it is followed.
	require.NoError(t, os.Remove(loops[0]))
	writeFile(t, loops[0], header+rows("SENSE2", 1, 1))
	h.waitRows(3)
	require.Equal(t, 1, h.log.linesWith("I!", "Following "+loops[0]))
}
