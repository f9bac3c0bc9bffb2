package qrstest

import (
	"fmt"
	"strings"
)

// User names the holder of an allocation.
type User struct{ Directory, ID string }

// AllocationsAnswer is the answer of GET /qrs/license/professionalaccesstype/full
// (or analyzeraccesstype/full): one entry per user, in full (the user
// condensed, the dates, the quarantine), quarantined when quarantined(i)
// (nil: none); a User with an empty ID is a deleted user's allocation
// (user null).
func AllocationsAnswer(schemaPath string, users []User, quarantined func(i int) bool) string {
	var b strings.Builder
	b.Grow(len(users) * 700)
	b.WriteString("[")
	for i, u := range users {
		if i > 0 {
			b.WriteString(",")
		}
		user, deleted := "null", fmt.Sprintf(`"deletedUserId":%q,"deletedUserDirectory":%q`, u.ID, u.Directory)
		if u.ID != "" {
			user = fmt.Sprintf(`{"id":"%08x-1111-4222-8333-444455556666","userId":%s,"userDirectory":%s,"userDirectoryConnectorName":%s,`+
				`"name":%s,"privileges":null}`, i, mustJSON(u.ID), mustJSON(u.Directory), mustJSON(u.Directory), mustJSON(u.ID))
			deleted = `"deletedUserId":"","deletedUserDirectory":""`
		}
		q := quarantined != nil && quarantined(i)
		end := "1753-01-01T00:00:00.000Z"
		if q {
			end = "2026-12-14T09:00:00.000Z"
		}
		fmt.Fprintf(&b, `{"id":"%08x-aaaa-4bbb-8ccc-dddddddddddd","createdDate":"2025-01-06T08:00:00.000Z","modifiedDate":"2026-11-30T12:00:00.000Z",`+
			`"modifiedByUserName":"INTERNAL\\sa_repository","user":%s,"quarantined":%t,"quarantineEnd":%q,%s,`+
			`"lastUsed":"2026-12-01T10:%02d:00.000Z","privileges":null,"schemaPath":%q}`, i, user, q, end, deleted, i%60, schemaPath)
	}
	b.WriteString("]")
	return b.String()
}

// LicenseAnswer is the answer of GET /qrs/license: a signed key's licence
// (its keyDetails lines), or an LEF's (lef, keyDetails empty).
func LicenseAnswer(expired bool, keyDetails, lef string) string {
	return mustJSON(map[string]any{
		"id": "d1b4c3a2-0000-4000-8000-000000000001", "createdDate": "2025-01-06T08:00:00.000Z",
		"modifiedDate": "2026-11-30T12:00:00.000Z", "modifiedByUserName": "INTERNAL\\sa_repository",
		"lef": lef, "serial": "9999000000001234", "check": "", "key": "eyJhbGciOi...", "keyDetails": keyDetails,
		"name": "Lab", "organization": "Example Corp", "product": 0, "numberOfCores": -1,
		"isExpired": expired, "expiredReason": "", "isBlacklisted": false, "isInvalid": false,
		"isSubscription": true, "isCloudServices": false, "isElastic": false,
		"updated": "2026-11-30T12:00:00.000Z", "privileges": nil, "schemaPath": "License",
	})
}
