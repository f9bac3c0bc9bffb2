package qlikapitest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The oversize answers are valid JSON of the size asked: a client must
// refuse them for their size, not their syntax.
func TestWriteArray(t *testing.T) {
	for _, n := range []int{200, 64 << 10, 1<<20 + 17} {
		var b bytes.Buffer
		WriteArray(&b, n, `{"id":"x"}`)
		if b.Len() != n {
			t.Fatalf("%d: got %d", n, b.Len())
		}
		var a []map[string]string
		if err := json.Unmarshal(b.Bytes(), &a); err != nil {
			t.Fatal(n, err)
		}
	}
}
