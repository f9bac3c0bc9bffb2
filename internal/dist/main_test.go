package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteZipAndSums(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "qliksense_sessions.exe")
	conf := filepath.Join(dir, "sample.conf")
	// The archive's modes are the entries', not these files'.
	require.NoError(t, os.WriteFile(bin, []byte("MZ binary"), 0o600))
	require.NoError(t, os.WriteFile(conf, []byte("[[inputs.qliksense_sessions]]\n"), 0o600))
	mtime := time.Date(2025, 11, 25, 17, 0, 0, 0, time.UTC)

	archive := filepath.Join(dir, "qliksense_sessions_0.3.0_windows_amd64.zip")
	entries := []entry{
		{name: "qliksense_sessions.exe", src: bin, mode: 0o755},
		{name: "examples/sample.conf", src: conf, mode: 0o644},
	}
	require.NoError(t, writeZip(archive, "qliksense_sessions_0.3.0_windows_amd64", entries, mtime))

	zr, err := zip.OpenReader(archive)
	require.NoError(t, err)
	defer zr.Close()
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		got[f.Name] = fmt.Sprintf("%v %s", f.Mode(), data)
		require.True(t, f.Modified.Equal(mtime), f.Modified)
	}
	require.Equal(t, map[string]string{
		"qliksense_sessions_0.3.0_windows_amd64/qliksense_sessions.exe": "-rwxr-xr-x MZ binary",
		"qliksense_sessions_0.3.0_windows_amd64/examples/sample.conf":   "-rw-r--r-- [[inputs.qliksense_sessions]]\n",
	}, got)

	// The same input and time give the same archive.
	again := filepath.Join(t.TempDir(), filepath.Base(archive))
	require.NoError(t, writeZip(again, "qliksense_sessions_0.3.0_windows_amd64", entries, mtime))
	a, err := os.ReadFile(archive)
	require.NoError(t, err)
	b, err := os.ReadFile(again)
	require.NoError(t, err)
	require.Equal(t, a, b)

	sums := filepath.Join(dir, "SHA256SUMS")
	require.NoError(t, writeSums(sums, []string{archive}))
	data, err := os.ReadFile(sums)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%x  qliksense_sessions_0.3.0_windows_amd64.zip\n", sha256.Sum256(a)), string(data))
}

func TestRunChecksArguments(t *testing.T) {
	require.ErrorContains(t, run(nil), "-version")
	require.ErrorContains(t, run([]string{"-version", "a/b"}), "usable in a file name")
}

func TestSourceDate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1764090000")
	d, err := sourceDate()
	require.NoError(t, err)
	require.Equal(t, int64(1764090000), d.Unix())
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	_, err = sourceDate()
	require.Error(t, err)
}

// readZip returns an archive's files by name.
func readZip(t *testing.T, archive string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	require.NoError(t, err)
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		files[f.Name] = data
	}
	return files
}

// TestArchivesShipTheExamples builds the archives' contents from the
// repository as make dist does (a stand-in for the binary): every file under
// examples/ that the README links to is in both, examples/windows/ and
// examples/linux/ included; in the Windows archive the examples/windows/
// files have CRLF line ends and are otherwise the repository's, every other
// file is byte for byte the repository's.
func TestArchivesShipTheExamples(t *testing.T) {
	const root = "../.."
	files, err := shippedFiles(root)
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	links := regexp.MustCompile(`\]\((examples/[^)#]+)\)`).FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, links)
	for _, l := range links {
		if strings.HasSuffix(l[1], "/") {
			continue // the folder
		}
		require.Contains(t, files, l[1], "the README links to it")
	}
	for _, f := range []string{"examples/windows/telegraf.conf", "examples/windows/qliksense_sessions.conf", "examples/linux/qliksense_sessions.conf"} {
		require.Contains(t, files, f)
	}

	dir := t.TempDir()
	mtime := time.Date(2025, 11, 25, 17, 0, 0, 0, time.UTC)
	for _, goos := range []string{"windows", "linux"} {
		t.Run(goos, func(t *testing.T) {
			exe := "qliksense_sessions"
			if goos == "windows" {
				exe += ".exe"
			}
			bin := filepath.Join(dir, exe)
			require.NoError(t, os.WriteFile(bin, []byte("binary"), 0o600))
			folder := "qliksense_sessions_0.3.0_" + goos + "_amd64"
			archive := filepath.Join(dir, folder+".zip")
			require.NoError(t, writeZip(archive, folder, archiveEntries(goos, exe, bin, root, files), mtime))

			got := readZip(t, archive)
			require.Len(t, got, 1+len(files))
			require.Equal(t, []byte("binary"), got[folder+"/"+exe])
			for _, f := range files {
				want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
				require.NoError(t, err)
				data, ok := got[folder+"/"+f]
				require.True(t, ok, "%s is in the archive", f)
				if goos == "windows" && strings.HasPrefix(f, "examples/windows/") {
					require.NotContains(t, string(bytes.ReplaceAll(data, []byte("\r\n"), nil)), "\n", "%s: every line end is CRLF", f)
					require.Equal(t, want, bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), "%s: otherwise unchanged", f)
					continue
				}
				require.Equal(t, want, data, f)
			}
		})
	}
}

func TestToCRLF(t *testing.T) {
	require.Equal(t, "a\r\nb\r\n\r\nc", string(toCRLF([]byte("a\nb\r\n\nc"))))
	require.Empty(t, toCRLF(nil))
}
