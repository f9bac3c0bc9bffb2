package qrstest

import (
	"encoding/json"
	"testing"
)

// The Oversize answers are arrays of apps (qlikapitest.WriteArray makes
// them of the size asked): a client must refuse them for their size, not
// their syntax.
func TestAppEntry(t *testing.T) {
	var apps []struct{ ID, Name string }
	if err := json.Unmarshal([]byte("["+appEntry+","+appEntry+"]"), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[1].ID == "" || apps[1].Name != "Sales" {
		t.Fatalf("got %+v", apps)
	}
}

// Answer writes condensed apps with the id and name given.
func TestAnswer(t *testing.T) {
	var apps []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(Answer(App{"a", "x"}, App{"b", "y\n"})), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].ID != "a" || apps[0].Name != "x" || apps[1].ID != "b" || apps[1].Name != "y\n" {
		t.Fatalf("got %+v", apps)
	}
}
