package qpstest

import (
	"encoding/json"
	"testing"
)

// The Oversize answers are arrays of sessions (qlikapitest.WriteArray
// makes them of the size asked): a client must refuse them for their
// size, not their syntax.
func TestSessionEntry(t *testing.T) {
	var sessions []struct{ UserDirectory, UserID, SessionID string } // json matches UserId and SessionId to them
	if err := json.Unmarshal([]byte("["+sessionEntry+","+sessionEntry+"]"), &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 || sessions[1].UserID != "user" || sessions[1].SessionID == "" {
		t.Fatalf("got %+v", sessions)
	}
}
