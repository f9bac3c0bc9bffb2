package pipeline

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

func TestExcludeUsersGlobs(t *testing.T) {
	for _, tt := range []struct {
		name     string
		patterns []string
		dirs     []string
		excluded map[string]bool
	}{
		{
			name:     "globs",
			patterns: []string{`INTERNAL\sa_*`, `lab\bob`, `*\svc?`},
			dirs:     []string{"internal", "lab", ""},
			excluded: map[string]bool{
				`INTERNAL\sa_repository`: true,
				`internal\SA_API`:        true,
				`INTERNALsa_api`:         false,
				`LAB\bob`:                true,
				`LAB\bobby`:              false,
				`CORP\svc1`:              true,
				`CORP\svc12`:             false,
				`LAB\anna`:               false,
			},
		},
		{
			// Patterns that all name their directory take the short path for
			// the events of other directories; the answers are the same.
			name:     "literal directories",
			patterns: []string{`INTERNAL\sa_*`, `lab\bob`},
			dirs:     []string{"internal", "lab"},
			excluded: map[string]bool{
				`INTERNAL\sa_repository`: true,
				`Lab\BOB`:                true,
				`LAB\anna`:               false,
				`CORP\sa_api`:            false,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			excludes, err := CompileExcludes(tt.patterns)
			require.NoError(t, err)
			require.Equal(t, tt.dirs, excludes.dirs)
			var buf []byte
			for user, excluded := range tt.excluded {
				dir, id, _ := strings.Cut(user, `\`)
				ev := eventFor(dir, id)
				require.Equal(t, excluded, excludes.Excluded(&ev, &buf), user)
			}
		})
	}
}

func eventFor(directory, userID string) event.Event {
	return event.Event{Server: "SENSE1", Command: event.StartSession, Directory: directory, UserID: userID}
}
