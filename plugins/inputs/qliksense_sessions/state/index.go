package state

import "slices"

// A pair's known sessions, found by id. Most pairs know one to three
// sessions, where a look at each is the fastest and takes no memory; a
// pair that knows indexFrom or more (a script that opens many, or a sender
// that makes ids up, up to max_user_sessions) gets an index, so that
// an event naming a session costs the same at any number of them. Every
// change of pairDetail.known goes through the methods below, which keep
// the index exact; the slice keeps its order, which the rules of
// sessions.go pick by.

// indexFrom is how many known sessions a pair has when it gets an index; it
// loses it below half that. A variable, so that tests can compare the state
// with and without indexes.
var indexFrom = 8

// pairIndex is a pair's index of its known sessions.
type pairIndex struct {
	at     map[string]int // known[at[id]].id == id
	unsure int            // known sessions with unsure set
}

// find returns the index of the known session id, or -1.
func (d *pairDetail) find(id string) int {
	if d == nil {
		return -1
	}
	if d.index != nil {
		if i, ok := d.index.at[id]; ok {
			return i
		}
		return -1
	}
	for i := range d.known {
		if d.known[i].id == id {
			return i
		}
	}
	return -1
}

// addKnown appends k, whose id the pair does not know yet.
func (d *pairDetail) addKnown(k knownSession) {
	d.known = append(d.known, k)
	if d.index != nil || len(d.known) >= indexFrom {
		d.indexLast()
	}
}

// indexLast adds the last known session to the index, or makes the index.
func (d *pairDetail) indexLast() {
	if ix := d.index; ix != nil {
		last := len(d.known) - 1
		ix.at[d.known[last].id] = last
		if d.known[last].unsure {
			ix.unsure++
		}
		return
	}
	ix := &pairIndex{at: make(map[string]int, 2*len(d.known))}
	for i := range d.known {
		ix.at[d.known[i].id] = i
		if d.known[i].unsure {
			ix.unsure++
		}
	}
	d.index = ix
}

// deleteKnown removes known session i; the others keep their order.
func (d *pairDetail) deleteKnown(i int) {
	if d.index != nil {
		d.unindex(i)
	}
	d.known = slices.Delete(d.known, i, i+1) // clears the tail: no stale pointers
}

// unindex takes known session i, about to be deleted, out of the index,
// and moves those after it one place up; below half of indexFrom sessions
// the pair loses its index.
func (d *pairDetail) unindex(i int) {
	if len(d.known)-1 < indexFrom/2 {
		d.index = nil
		return
	}
	ix := d.index
	delete(ix.at, d.known[i].id)
	if d.known[i].unsure {
		ix.unsure--
	}
	for j := i + 1; j < len(d.known); j++ {
		ix.at[d.known[j].id] = j - 1
	}
}

// keepKnown keeps the first n known sessions.
func (d *pairDetail) keepKnown(n int) {
	if n >= len(d.known) {
		return
	}
	if n < indexFrom/2 {
		d.index = nil
	}
	if ix := d.index; ix != nil {
		for _, k := range d.known[n:] {
			delete(ix.at, k.id)
			if k.unsure {
				ix.unsure--
			}
		}
	}
	clear(d.known[n:])
	d.known = d.known[:n]
}

// forgetKnown forgets every known session.
func (d *pairDetail) forgetKnown() {
	d.known, d.index = nil, nil
}

// setUnsure sets known session i's unsure flag.
func (d *pairDetail) setUnsure(i int, unsure bool) {
	k := &d.known[i]
	if k.unsure == unsure {
		return
	}
	k.unsure = unsure
	if d.index == nil {
		return
	}
	if unsure {
		d.index.unsure++
	} else {
		d.index.unsure--
	}
}

// unsureRecord is an unsure known session, one without open connections
// first, or -1.
func (d *pairDetail) unsureRecord() int {
	if d.index != nil && d.index.unsure == 0 {
		return -1
	}
	found := -1
	for i := range d.known {
		if d.known[i].unsure {
			if d.known[i].connections == 0 {
				return i
			}
			if found < 0 {
				found = i
			}
		}
	}
	return found
}
