package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A Windows path in double quotes is an invalid escape to TOML: the error
// names the key and says to use single quotes (issue 21: TOML's bare
// "invalid escape in string '\P'").
func TestRunExplainsBackslashesInDoubleQuotes(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ conf, want string }{
		{"[[inputs.qliksense_sessions]]\n  service_address = \"udp://:9997\"\n  state_file = \"C:\\ProgramData\\qss\\state.json\"\n",
			`key "state_file" in inputs.qliksense_sessions (line 3): invalid escape in string '\P': ` +
				`in double quotes a backslash starts an escape: write Windows paths in single quotes, ` +
				`e.g. state_file = 'C:\ProgramData\...', or double every backslash`},
		{"[[inputs.qliksense_sessions]]\n  [inputs.qliksense_sessions.logfile]\n    files = [\"C:\\ProgramData\\Qlik\\*.txt\"]\n",
			`key "files" in inputs.qliksense_sessions.logfile (line 3): invalid escape in string '\P'`},
	} {
		path := filepath.Join(dir, "windows.conf")
		require.NoError(t, os.WriteFile(path, []byte(tt.conf), 0o600))
		err := run([]string{"-config", path}, &bytes.Buffer{})
		require.Error(t, err)
		require.Contains(t, err.Error(), `-config "`+path+`": `+tt.want)
	}
}

// -h and -help print the usage and end well: asking for help is no error
// (issue 21: "E! flag: help requested", exit status 1).
func TestRunHelp(t *testing.T) {
	for _, flag := range []string{"-h", "-help", "--help"} {
		require.NoError(t, run([]string{flag}, &bytes.Buffer{}), flag)
	}
}
