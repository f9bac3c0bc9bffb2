// Command dist builds the release archives (make dist): for each target, the
// qliksense_sessions binary cross-compiled without cgo, zipped with
// sample.conf, README.md and the examples under one folder,
//
//	dist/qliksense_sessions_<version>_<os>_<arch>.zip
//
// In the Windows archives the files of examples/windows/ have Windows line
// ends (CRLF), as an editor on the server writes them back.
//
// and dist/SHA256SUMS over the archives (sha256sum -c reads it). It needs
// only Go: a fresh machine may have no zip. Files in the archives carry the
// time in SOURCE_DATE_EPOCH when set (the Makefile passes the commit's), so
// that rebuilding a commit gives the same archives.
//
//	go run ./internal/dist -version 0.3.0 -ldflags "-X ..." -targets windows/amd64,linux/amd64 -out dist
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const program = "qliksense_sessions"

// shipped are the files every archive holds besides the binary, as globs
// relative to the repository root; each must match something.
var shipped = []string{
	"sample.conf",
	"README.md",
	"examples/LocalLogConfig.xml",
	"examples/telegraf-*.conf",
	"examples/grafana/*.json",
	"examples/prometheus-alerts.yml",
	"examples/windows/*.conf",
	"examples/linux/*.conf",
}

// windowsText are the files (globs as in shipped) that a Windows archive
// holds with CRLF line ends.
var windowsText = []string{"examples/windows/*.conf"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("dist", flag.ContinueOnError)
	version := flags.String("version", "", "release version, part of the archive names (required)")
	ldflags := flags.String("ldflags", "", "go build -ldflags (the Makefile's version stamp)")
	targets := flags.String("targets", "windows/amd64,linux/amd64,linux/arm64", "comma-separated GOOS/GOARCH pairs")
	out := flags.String("out", "dist", "folder for the archives and SHA256SUMS")
	goCmd := flags.String("go", "go", "the go command")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *version == "" || strings.ContainsAny(*version, `/\ `) {
		return fmt.Errorf("-version %q: give a version usable in a file name, e.g. 0.3.0", *version)
	}
	mtime, err := sourceDate()
	if err != nil {
		return err
	}
	files, err := shippedFiles(".")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil { //nolint:gosec // G301: release archives are for everyone to read
		return err
	}
	build, err := os.MkdirTemp("", "qss-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)

	targetList := strings.Split(*targets, ",")
	archives := make([]string, 0, len(targetList))
	for _, target := range targetList {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(target), "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("target %q: want GOOS/GOARCH, e.g. windows/amd64", target)
		}
		exe := program
		if goos == "windows" {
			exe += ".exe"
		}
		bin := filepath.Join(build, goos+"_"+goarch, exe)
		cmd := exec.Command(*goCmd, "build", "-trimpath", "-ldflags", *ldflags, "-o", bin, "./cmd/"+program)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", target, err)
		}
		name := fmt.Sprintf("%s_%s_%s_%s", program, *version, goos, goarch)
		archive := filepath.Join(*out, name+".zip")
		if err := writeZip(archive, name, archiveEntries(goos, exe, bin, ".", files), mtime); err != nil {
			return err
		}
		archives = append(archives, archive)
		fmt.Fprintln(os.Stderr, "wrote", archive)
	}
	return writeSums(filepath.Join(*out, "SHA256SUMS"), archives)
}

// shippedFiles expands shipped in the repository at root: the files' paths
// relative to root, with slashes, in shipped's order.
func shippedFiles(root string) ([]string, error) {
	var files []string
	for _, pattern := range shipped {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("%s: no such file (run from the repository root)", pattern)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				return nil, err
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	return files, nil
}

// archiveEntries are the entries of goos's archive: the binary exe (built
// at bin), then files (relative to root); for windows, the windowsText ones
// with CRLF line ends.
func archiveEntries(goos, exe, bin, root string, files []string) []entry {
	entries := make([]entry, 0, 1+len(files))
	entries = append(entries, entry{name: exe, src: bin, mode: 0o755})
	for _, f := range files {
		e := entry{name: f, src: filepath.Join(root, filepath.FromSlash(f)), mode: 0o644}
		if goos == "windows" {
			e.crlf = slices.ContainsFunc(windowsText, func(pattern string) bool {
				ok, err := path.Match(pattern, f)
				return err == nil && ok
			})
		}
		entries = append(entries, e)
	}
	return entries
}

// sourceDate is SOURCE_DATE_EPOCH (Unix seconds) or, unset, now.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err) //nolint:revive // string-format: begins with the variable's name
	}
	return time.Unix(sec, 0).UTC(), nil
}

// entry is one file of an archive: its name inside the archive's folder and
// the file it comes from; crlf writes its line ends as CRLF.
type entry struct {
	name, src string
	mode      os.FileMode
	crlf      bool
}

// writeZip writes the entries under folder/ in a new archive.
func writeZip(archive, folder string, entries []entry, mtime time.Time) (err error) {
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	for _, e := range entries {
		if err := addFile(zw, path.Join(folder, e.name), e, mtime); err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
	}
	return zw.Close()
}

func addFile(zw *zip.Writer, name string, e entry, mtime time.Time) error {
	in, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer in.Close()
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mtime}
	h.SetMode(e.mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if !e.crlf {
		_, err = io.Copy(w, in)
		return err
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	_, err = w.Write(toCRLF(data))
	return err
}

// toCRLF gives every line end of data as CRLF; those that are already
// CRLF stay as they are.
func toCRLF(data []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// writeSums writes "<sha256>  <file name>" lines, as sha256sum does.
func writeSums(sumsFile string, files []string) error {
	if len(files) == 0 {
		return errors.New("no archives to sum")
	}
	var b strings.Builder
	slices.Sort(files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), filepath.Base(file))
	}
	return os.WriteFile(sumsFile, []byte(b.String()), 0o644) //nolint:gosec // G306: published next to the archives, for everyone to read
}
