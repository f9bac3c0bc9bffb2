package qrstest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The oversize answers are valid JSON of the size asked: a client must
// refuse them for their size, not their syntax.
func TestWriteApps(t *testing.T) {
	for _, n := range []int{200, 64 << 10, 1<<20 + 17} {
		var b bytes.Buffer
		writeApps(&b, n)
		if b.Len() != n {
			t.Fatalf("%d: got %d", n, b.Len())
		}
		var apps []map[string]any
		if err := json.Unmarshal(b.Bytes(), &apps); err != nil {
			t.Fatal(n, err)
		}
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
