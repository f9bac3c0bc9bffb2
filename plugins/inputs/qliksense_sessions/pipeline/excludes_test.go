package pipeline

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/event"
)

func TestExcludeUsersGlobs(t *testing.T) {
	excludes, err := CompileExcludes([]string{`INTERNAL\sa_*`, `lab\bob`, `*\svc?`})
	require.NoError(t, err)
	var buf []byte
	for user, excluded := range map[string]bool{
		`INTERNAL\sa_repository`: true,
		`internal\SA_API`:        true,
		`INTERNALsa_api`:         false,
		`LAB\bob`:                true,
		`LAB\bobby`:              false,
		`CORP\svc1`:              true,
		`CORP\svc12`:             false,
		`LAB\anna`:               false,
	} {
		dir, id, _ := strings.Cut(user, `\`)
		ev := eventFor(dir, id)
		require.Equal(t, excluded, excludes.Excluded(&ev, &buf), user)
	}

	// Patterns that all name their directory take the short path for the
	// events of other directories; the answers are the same.
	excludes, err = CompileExcludes([]string{`INTERNAL\sa_*`, `lab\bob`})
	require.NoError(t, err)
	require.Equal(t, []string{"internal", "lab"}, excludes.dirs)
	for user, excluded := range map[string]bool{
		`INTERNAL\sa_repository`: true,
		`Lab\BOB`:                true,
		`LAB\anna`:               false,
		`CORP\sa_api`:            false,
	} {
		dir, id, _ := strings.Cut(user, `\`)
		ev := eventFor(dir, id)
		require.Equal(t, excluded, excludes.Excluded(&ev, &buf), user)
	}
}

func eventFor(directory, userID string) event.Event {
	return event.Event{Server: "SENSE1", Command: event.StartSession, Directory: directory, UserID: userID}
}
