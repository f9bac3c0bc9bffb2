package qrstest

import (
	"encoding/json"
)

// The licence endpoints the fake answers, once a test gives them an answer
// with SetLicenseAnswer; until then they answer 404, as a repository of an
// older Sense version does.
const (
	OverviewPath     = "/qrs/license/accesstypeoverview"
	LicensePath      = "/qrs/license"
	ProfessionalPath = "/qrs/license/professionalaccesstype/full"
	AnalyzerPath     = "/qrs/license/analyzeraccesstype/full"
)

var licensePaths = map[string]bool{OverviewPath: true, LicensePath: true, ProfessionalPath: true, AnalyzerPath: true}

// SetLicenseAnswer sets the JSON answer of a licence endpoint (one of the
// paths above).
func (s *Server) SetLicenseAnswer(path, body string) {
	if !licensePaths[path] {
		panic("qrstest: no licence endpoint " + path)
	}
	s.Server.SetAnswer(path, body)
}

// Access is professionalAccess or analyzerAccess of the overview.
type Access struct {
	Enabled     bool `json:"enabled"`
	Total       int  `json:"total"`
	Allocated   int  `json:"allocated"`
	Used        int  `json:"used"`
	Quarantined int  `json:"quarantined"`
	Excess      int  `json:"excess"`
	Available   int  `json:"available"`
}

// TimeAccess is analyzerTimeAccess (analyzer capacity, in minutes).
type TimeAccess struct {
	Enabled            bool `json:"enabled"`
	AllocatedMinutes   int  `json:"allocatedMinutes"`
	UsedMinutes        int  `json:"usedMinutes"`
	UnavailableMinutes int  `json:"unavailableMinutes"`
}

// LoginAccess is loginAccess (login passes, in tokens).
type LoginAccess struct {
	Enabled           bool `json:"enabled"`
	TokenCost         int  `json:"tokenCost"`
	AllocatedTokens   int  `json:"allocatedTokens"`
	UsedTokens        int  `json:"usedTokens"`
	UnavailableTokens int  `json:"unavailableTokens"`
}

// UserAccess is userAccess (user passes, in tokens).
type UserAccess struct {
	Enabled           bool `json:"enabled"`
	TokenCost         int  `json:"tokenCost"`
	AllocatedTokens   int  `json:"allocatedTokens"`
	UsedTokens        int  `json:"usedTokens"`
	QuarantinedTokens int  `json:"quarantinedTokens"`
}

// Overview is the answer of GET /qrs/license/accesstypeoverview, with the
// properties Qlik documents for LicenseAccessTypeOverview.
type Overview struct {
	TotalTokens        int         `json:"totalTokens"`
	AvailableTokens    int         `json:"availableTokens"`
	TokensEnabled      bool        `json:"tokensEnabled"`
	UserAccess         UserAccess  `json:"userAccess"`
	LoginAccess        LoginAccess `json:"loginAccess"`
	ProfessionalAccess Access      `json:"professionalAccess"`
	AnalyzerAccess     Access      `json:"analyzerAccess"`
	AnalyzerTimeAccess TimeAccess  `json:"analyzerTimeAccess"`
	SchemaPath         string      `json:"schemaPath"`
}

// FullOverview is an overview with every access type enabled, each number
// distinct, so that a test sees which went where.
func FullOverview() Overview {
	return Overview{
		TotalTokens: 1000, AvailableTokens: 130, TokensEnabled: true,
		UserAccess:         UserAccess{Enabled: true, TokenCost: 1, AllocatedTokens: 200, UsedTokens: 180, QuarantinedTokens: 3},
		LoginAccess:        LoginAccess{Enabled: true, TokenCost: 10, AllocatedTokens: 400, UsedTokens: 250, UnavailableTokens: 20},
		ProfessionalAccess: Access{Enabled: true, Total: 100, Allocated: 95, Used: 90, Quarantined: 2, Excess: 0, Available: 3},
		AnalyzerAccess:     Access{Enabled: true, Total: 500, Allocated: 410, Used: 380, Quarantined: 7, Excess: 1, Available: 83},
		AnalyzerTimeAccess: TimeAccess{Enabled: true, AllocatedMinutes: 60000, UsedMinutes: 12345, UnavailableMinutes: 6},
		SchemaPath:         "LicenseAccessTypeOverview",
	}
}

// JSON is the overview as the repository writes it.
func (o Overview) JSON() string { return mustJSON(o) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ServeSmallSite makes the server answer every licence endpoint as a small
// site with every access type enabled (FullOverview), a signed key valid to
// 2027-01-31, and allocations: LAB\anna professional, LAB\maria analyzer
// (quarantined: not held), CORP\bob analyzer.
func (s *Server) ServeSmallSite() {
	s.SetLicenseAnswer(OverviewPath, FullOverview().JSON())
	s.SetLicenseAnswer(LicensePath, LicenseAnswer(false, "Valid From: 2025-01-01\nValid To: 2027-01-31\n", ""))
	s.SetLicenseAnswer(ProfessionalPath, AllocationsAnswer("License.ProfessionalAccessType", []User{{Directory: "LAB", ID: "anna"}}, nil))
	s.SetLicenseAnswer(AnalyzerPath, AllocationsAnswer("License.AnalyzerAccessType",
		[]User{{Directory: "LAB", ID: "maria"}, {Directory: "CORP", ID: "bob"}}, func(i int) bool { return i == 0 }))
}
