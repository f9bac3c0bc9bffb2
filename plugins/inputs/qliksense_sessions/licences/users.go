package licences

import (
	"strings"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/metrics"
	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs"
)

// allocationList is one allocation list's holders: DIR\userid case-folded,
// quarantined allocations left out (they are not held).
type allocationList struct {
	users map[string]struct{}
}

func newAllocationList(a *qrs.Allocations) *allocationList {
	l := &allocationList{users: make(map[string]struct{}, len(a.Entries))}
	for _, e := range a.Entries {
		if !e.Quarantined {
			l.users[strings.ToLower(e.User)] = struct{}{}
		}
	}
	return l
}

// licenseHolders is who holds which allocation, from the last good
// answers of both lists; a list never answered (or switched off) is
// unknown. It is never written after it is stored.
type licenseHolders struct {
	lists [2]*allocationList // professional, analyzer; nil: unknown
}

func newLicenseHolders(lists [2]*allocationList) *licenseHolders {
	return &licenseHolders{lists: lists}
}

// The access types of qliksense_users_license, in the order users are
// matched: a user who holds both allocations counts as professional.
var accessTypes = [3]string{"professional", "analyzer", "other"}

// split sorts the active users (DIR\userid, in their order) by the access
// type they hold; users holds no allocation known count as other.
func (h *licenseHolders) split(users []string) (byAccess [3][]string) {
	for _, user := range users {
		key := strings.ToLower(user)
		access := 2
		for i, list := range h.lists {
			if list == nil {
				continue
			}
			if _, ok := list.users[key]; ok {
				access = i
				break
			}
		}
		byAccess[access] = append(byAccess[access], user)
	}
	return byAccess
}

// AddUsersLicense adds qliksense_users_license, one per access type, for
// the site's active users of a summary, once an allocation list is known.
// It reads the last stored holders and never waits for a poll.
func (l *Poller) AddUsersLicense(acc telegraf.Accumulator, users []string, trigger string, at time.Time) {
	h := l.holders.Load()
	if h == nil || h.lists[0] == nil && h.lists[1] == nil {
		return
	}
	for i, list := range h.split(users) {
		fields := metrics.SummaryUserFields(len(list), list, l.usersMaxBytes)
		acc.AddFields(metrics.UsersLicense, fields, map[string]string{"access_type": accessTypes[i], "trigger": trigger}, at)
	}
}
