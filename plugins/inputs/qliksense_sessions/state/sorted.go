package state

import (
	"cmp"
	"slices"
	"strings"
)

// The sorted user lists that summaries carry are built in two steps, so
// that the caller's lock, which the intake waits on, is held only for the
// cheap one: State notes who joined or left each list in a changeLog
// (TakeChanges hands the logs over), and sortedNames, which State.Summarise
// keeps apart from everything Apply touches, merges them into lists in key
// order.

// nameChange is a user joining (add) or leaving a list; the latest change
// of a key decides.
type nameChange struct {
	key, name string
	seq       int
	add       bool
}

// changeLogLimit is how long a changeLog of a list of members users grows
// before it overflows: past twice the list's size, sending the whole list
// is cheaper. A variable, so that tests can make logs overflow.
var changeLogLimit = func(members int) int { return 2*members + 1024 }

// changeLog collects a list's changes until TakeChanges.
type changeLog struct {
	changes []nameChange
	// overflow: more changes came than the list has members, so the log was
	// dropped and TakeChanges sends the whole list instead.
	overflow bool
}

func (l *changeLog) add(key, name string, members int) {
	l.note(nameChange{key: key, name: name, add: true}, members)
}

func (l *changeLog) remove(key string, members int) {
	l.note(nameChange{key: key}, members)
}

// note logs a change to a list of members users. Without summaries
// (summary_interval = 0 and a long gather interval) the log would grow
// without bound: see changeLogLimit.
func (l *changeLog) note(c nameChange, members int) {
	if l.overflow {
		return
	}
	if len(l.changes) >= changeLogLimit(members) {
		clear(l.changes)
		l.changes, l.overflow = nil, true
		return
	}
	c.seq = len(l.changes)
	l.changes = append(l.changes, c)
}

// listChanges is a changeLog handed over: the changes since the last
// TakeChanges or, with replace, the whole list.
type listChanges struct {
	changes []nameChange
	replace bool
}

// take hands the log over; with an overflow, members supplies the list.
func (l *changeLog) take(members func(yield func(key, name string))) listChanges {
	if l.overflow {
		var whole []nameChange
		members(func(key, name string) {
			whole = append(whole, nameChange{key: key, name: name, seq: len(whole), add: true})
		})
		*l = changeLog{}
		return listChanges{changes: whole, replace: true}
	}
	taken := listChanges{changes: l.changes}
	l.changes = nil
	return taken
}

// sortedNames is a list of user names in key order.
type sortedNames struct {
	keys, names []string // parallel
}

// merge applies handed-over changes and tells whether the list changed (a
// member left, came or came back under another spelling). It owns the
// changes, and reorders them. It works in place, so that summaries of a
// large site do not allocate a list each time (and keep the garbage
// collector busy).
func (l *sortedNames) merge(c listChanges) (changed bool) {
	if c.replace {
		// The whole list, after a log overflowed (rare): compare it with
		// the old one.
		old := slices.Clone(l.names)
		clear(l.keys)
		clear(l.names)
		l.keys, l.names = l.keys[:0], l.names[:0]
		defer func() { changed = !slices.Equal(old, l.names) }()
	}
	if len(c.changes) == 0 {
		return false
	}
	slices.SortFunc(c.changes, func(a, b nameChange) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})

	// Forward: the last change of each key decides; drop or rename the
	// members it names, and set aside the newcomers, in key order.
	keys, names := l.keys, l.names
	newcomers := c.changes[:0] // written behind the reading
	write, read := 0, 0
	for i, change := range c.changes {
		if i+1 < len(c.changes) && c.changes[i+1].key == change.key {
			continue
		}
		at, found := slices.BinarySearch(keys[read:], change.key)
		at += read
		copy(names[write:], names[read:at])
		write += copy(keys[write:], keys[read:at])
		read = at
		switch {
		case found && change.add: // back, perhaps under a new spelling
			changed = changed || names[read] != change.name
			keys[write], names[write] = change.key, change.name
			write++
			read++
		case found:
			changed = true
			read++
		case change.add:
			changed = true
			newcomers = append(newcomers, change)
		}
	}
	tail := copy(keys[write:], keys[read:])
	copy(names[write:], names[read:])
	write += tail
	clear(keys[write:])
	clear(names[write:])
	keys, names = keys[:write], names[:write]

	// Backward: make room and move each block of members once, from the
	// end, between the newcomers' places.
	members := len(keys)
	keys = slices.Grow(keys, len(newcomers))[:members+len(newcomers)]
	names = slices.Grow(names, len(newcomers))[:members+len(newcomers)]
	end := members // members[:end] are not moved yet
	for i := len(newcomers) - 1; i >= 0; i-- {
		at, _ := slices.BinarySearch(keys[:end], newcomers[i].key)
		copy(keys[at+i+1:], keys[at:end])
		copy(names[at+i+1:], names[at:end])
		keys[at+i], names[at+i] = newcomers[i].key, newcomers[i].name
		end = at
	}
	l.keys, l.names = keys, names
	return changed
}

// copyNames returns the names, the caller's to keep.
func (l *sortedNames) copyNames() []string {
	return append(make([]string, 0, len(l.names)), l.names...)
}
