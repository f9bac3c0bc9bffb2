package main

import (
	"archive/zip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
