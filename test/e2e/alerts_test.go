//go:build e2e && linux

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/qliksense-telegraf/qliksense-sessions/plugins/inputs/qliksense_sessions/sources/qrs/qrstest"
)

// alertRules is what the test reads of examples/prometheus-alerts.yml: each
// alert's annotations, to say what promtool must find.
type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promtoolTest is a promtool test rules file (JSON is YAML).
type promtoolTest struct {
	RuleFiles          []string       `json:"rule_files"`
	EvaluationInterval string         `json:"evaluation_interval"`
	Tests              []promtoolCase `json:"tests"`
}

type promtoolCase struct {
	Interval      string           `json:"interval"`
	InputSeries   []promtoolSeries `json:"input_series"`
	AlertRuleTest []promtoolAlerts `json:"alert_rule_test"`
}

type promtoolSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type promtoolAlerts struct {
	EvalTime  string          `json:"eval_time"`
	AlertName string          `json:"alertname"`
	ExpAlerts []promtoolAlert `json:"exp_alerts"`
}

type promtoolAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

// TestPrometheusAlertRules checks examples/prometheus-alerts.yml with
// promtool check rules, then runs promtool test rules on series the plugin
// produced through the shipped examples/telegraf-prometheus.conf: a scrape
// of a quiet site (every alert silent), and one after a proxy fell silent,
// a user reached the session limit, the active users passed the
// threshold, the kernel dropped datagrams (the plugin stopped with SIGSTOP
// while datagrams came) and a third server was refused by max_servers
// (every alert firing, then the counters' alerts ending). A stand-in
// repository serves licences: quiet, the professional allocations at 95%
// (not above), the key valid for years, the analyzer capacity's minutes
// unused; broken, 99%, the key expiring in 10 days, 300 minutes used at
// once (the capacity runs out within hours at that rate). The test file
// holds the quiet scrape for 6 minutes and the other for 35, one sample a
// minute. The active users' threshold, a placeholder, is set to 4 here.
// Linux only (this file's build tag): datagrams_dropped is Linux's count,
// and SIGSTOP stops the plugin.
func TestPrometheusAlertRules(t *testing.T) {
	promtool := serverBinary(t, "promtool", "prometheus")
	rulesFile := repoFile(t, "examples/prometheus-alerts.yml")
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	require.NoError(t, err, "promtool check rules: %s", out)

	dir := t.TempDir()
	rules := writeVariant(t, rulesFile, filepath.Join(dir, "alerts.yml"), func(s string) string {
		return replaceOnce(t, s, "expr: qliksense_users_active_users > 1000", "expr: qliksense_users_active_users > 4")
	})
	var parsed alertRules
	data, err := os.ReadFile(rules)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &parsed))

	bin := binDir(t)
	udpPort := freeUDPPort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	licences, repository, overview := alertLicences(t)
	// A small socket buffer, so that a stopped plugin drops datagrams soon.
	pluginConf := filepath.Join(dir, "qliksense_sessions.conf")
	require.NoError(t, os.WriteFile(pluginConf, fmt.Appendf(nil, `[[inputs.qliksense_sessions]]
  service_address = "udp://127.0.0.1:%d"
  read_buffer_size = "64KiB"
  summary_interval = "1s"
  max_servers = 2
  silence_alert = "3s"
%s`, udpPort, licences), 0o600))
	tg := startTelegrafEnv(t, bin, repoFile(t, "examples/telegraf-prometheus.conf"),
		exampleEnv(bin, pluginConf, "QSS_PROMETHEUS_LISTEN="+listen))
	conn := dialPlugin(t, udpPort)
	start := func(server, user string) string {
		return fmt.Sprintf(`/qseow-proxy-session/;%s;Start session;LAB;%s;AppAccess;/hub/;Start session for user 'LAB\%s'`, server, user, user)
	}
	// The proxies' sign of life: a connection event (of nobody's session:
	// it changes no count).
	alive := func(server string) string {
		return fmt.Sprintf(`/qseow-proxy-connection/;%s;Close connection;LAB;nobody;AppAccess;/hub/;connection Closed for session 'x'`, server)
	}
	heartbeat := newHeartbeat(t, conn, alive, "SENSE1", "SENSE2")

	host, err := os.Hostname()
	require.NoError(t, err)
	site := func(name string) string { return name + `{host="` + host + `"}` }
	licence := func(name, licenseType string) string {
		return name + `{host="` + host + `",license_type="` + licenseType + `"}`
	}
	url := "http://" + listen + "/metrics"
	scrapeWhen := func(what string, want map[string]func(float64) bool) *exposition {
		t.Helper()
		var exp *exposition
		require.Eventually(t, func() bool {
			if exp = scrape(t, url); exp == nil {
				return false
			}
			for name, ok := range want {
				if !strings.Contains(name, "{") {
					name = site(name)
				}
				if v, found := exp.series[name]; !found || !ok(v) {
					return false
				}
			}
			return true
		}, 60*time.Second, 250*time.Millisecond, "the endpoint never served %s: %v", what, exp)
		return exp
	}
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	positive := func(v float64) bool { return v > 0 }

	// A quiet site: 4 users, one of them with 4 sessions (under the limit
	// of 5), both servers alive.
	sendDatagrams(t, conn, start("SENSE1", "anna"), start("SENSE1", "bob"), start("SENSE1", "carl"))
	for range 4 {
		sendDatagrams(t, conn, start("SENSE2", "dora"))
	}
	quiet := scrapeWhen("the quiet site", map[string]func(float64) bool{
		"qliksense_users_active_users": is(4), "qliksense_users_users_at_session_limit": is(0), "qliksense_users_silent_servers": is(0),
		"qliksense_users_max_sessions_per_user": is(4),
		// The intake counters come with a gather, after the datagrams.
		"qliksense_sessions_internal_events_accepted":            func(v float64) bool { return v >= 7 },
		"qliksense_sessions_internal_events_refused_max_servers": is(0), "qliksense_sessions_internal_datagrams_dropped": is(0),
		licence("qlik_sense_license_allocated", "professional"): is(95), licence("qlik_sense_license_total", "professional"): is(100),
		site("qlik_sense_server_license_days_until_expiry"): func(v float64) bool { return v > 365 },
	})
	_, burning := quiet.series[licence("qlik_sense_license_hours_left", "analyzer_capacity")]
	require.False(t, burning, "hours_left while no minutes are used")

	// The licences go wrong too.
	overview.ProfessionalAccess.Allocated = 99
	overview.AnalyzerTimeAccess.UsedMinutes += 300
	repository.SetLicenseAnswer(qrstest.OverviewPath, overview.JSON())
	repository.SetLicenseAnswer(qrstest.LicensePath, licenceValidTo(time.Now().AddDate(0, 0, 10).Format(time.DateOnly)))

	// Everything goes wrong: SENSE1 falls silent; dora opens a fifth
	// session; a fifth user; a third server, beyond max_servers; the
	// plugin stops reading while datagrams come.
	heartbeat.stop("SENSE1")
	sendDatagrams(t, conn, start("SENSE2", "dora"), start("SENSE2", "emil"), start("SENSE3", "fred"))
	plugin := pluginProcess(t, tg.cmd.Process.Pid)
	require.Eventually(t, func() bool {
		exp := scrape(t, url)
		return exp != nil && exp.series[site("qliksense_users_active_users")] == 5
	}, 30*time.Second, 100*time.Millisecond, "the plugin never took in the new sessions")
	require.NoError(t, syscall.Kill(plugin, syscall.SIGSTOP))
	for range 3000 {
		_, err := fmt.Fprint(conn, alive("SENSE2"))
		require.NoError(t, err)
	}
	require.NoError(t, syscall.Kill(plugin, syscall.SIGCONT))
	broken := scrapeWhen("the broken site", map[string]func(float64) bool{
		"qliksense_users_active_users": is(5), "qliksense_users_users_at_session_limit": is(1), "qliksense_users_silent_servers": is(1),
		"qliksense_sessions_internal_events_refused_max_servers": positive, "qliksense_sessions_internal_datagrams_dropped": positive,
		licence("qlik_sense_license_allocated", "professional"):       is(99),
		licence("qlik_sense_license_hours_left", "analyzer_capacity"): func(v float64) bool { return v > 0 && v < 48 },
		site("qlik_sense_server_license_days_until_expiry"):           func(v float64) bool { return v > 0 && v < 30 },
	})
	heartbeat.stop("SENSE2")

	// The test file: the quiet scrape from 0m to 5m, the broken one from
	// 6m to 40m, every series either showed.
	const quietSamples, brokenSamples = 6, 35
	names := make(map[string]bool)
	for _, exp := range []*exposition{quiet, broken} {
		for name := range exp.series {
			if strings.HasPrefix(name, "qliksense") || strings.HasPrefix(name, "qlik_sense") {
				names[name] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	sample := func(exp *exposition, name string) string {
		if v, ok := exp.series[name]; ok {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return "_"
	}
	series := make([]promtoolSeries, 0, len(sorted))
	for _, name := range sorted {
		values := strings.Repeat(sample(quiet, name)+" ", quietSamples) + strings.TrimSpace(strings.Repeat(sample(broken, name)+" ", brokenSamples))
		series = append(series, promtoolSeries{Series: name, Values: values})
	}

	// What each alert says when it fires, from the rules file: its labels
	// (the host, and the licence type of a licence's) and annotations with
	// the broken scrape's value, as Prometheus's templates render them.
	expect := func(alert string, value float64, licenseType string) []promtoolAlert {
		for _, g := range parsed.Groups {
			for _, r := range g.Rules {
				if r.Alert != alert {
					continue
				}
				labels := map[string]string{"host": host}
				if licenseType != "" {
					labels["license_type"] = licenseType
				}
				for k, v := range r.Labels {
					labels[k] = v
				}
				render := strings.NewReplacer("{{ $labels.host }}", host, "{{ $labels.license_type }}", licenseType,
					"{{ $value }}", strconv.FormatFloat(value, 'f', -1, 64),
					"{{ $value | humanize }}", humanize(value), "{{ $value | humanizePercentage }}", fmt.Sprintf("%.4g%%", value*100))
				annotations := make(map[string]string)
				for k, v := range r.Annotations {
					annotations[k] = render.Replace(v)
				}
				return []promtoolAlert{{ExpLabels: labels, ExpAnnotations: annotations}}
			}
		}
		t.Fatalf("no alert %s in %s", alert, rulesFile)
		return nil
	}
	none := make([]promtoolAlert, 0) // [] in the file: no alert
	var checks []promtoolAlerts
	allocated := broken.series[licence("qlik_sense_license_allocated", "professional")] /
		broken.series[licence("qlik_sense_license_total", "professional")]
	for _, c := range []struct {
		alert       string
		firing      string // eval time the alert fires at (for: counted from 6m)
		value       float64
		ended       string // eval time it has ended at; "" if it goes on
		licenseType string // a licence alert's label
	}{
		{"QlikSenseProxySilent", "7m", broken.series[site("qliksense_users_silent_servers")], "", ""},
		{"QlikSenseUsersAtSessionLimit", "12m", broken.series[site("qliksense_users_users_at_session_limit")], "", ""},
		{"QlikSenseActiveUsersHigh", "17m", broken.series[site("qliksense_users_active_users")], "", ""},
		{"QlikSenseSessionsDatagramsDropped", "7m", 0, "25m", ""},
		{"QlikSenseSessionsEventsRefused", "7m", 0, "25m", ""},
		{"QlikSenseAnalyzerCapacityRunningOut", "21m", broken.series[licence("qlik_sense_license_hours_left", "analyzer_capacity")], "", "analyzer_capacity"},
		{"QlikSenseLicencesNearlyAllAllocated", "36m", allocated, "", "professional"},
		{"QlikSenseLicenceExpiring", "7m", broken.series[site("qlik_sense_server_license_days_until_expiry")], "", ""},
	} {
		checks = append(checks,
			promtoolAlerts{EvalTime: "5m", AlertName: c.alert, ExpAlerts: none},
			promtoolAlerts{EvalTime: c.firing, AlertName: c.alert, ExpAlerts: expect(c.alert, c.value, c.licenseType)})
		if c.ended != "" {
			checks = append(checks, promtoolAlerts{EvalTime: c.ended, AlertName: c.alert, ExpAlerts: none})
		}
	}
	// Just before the for: durations run out, the alerts are still pending.
	checks = append(checks,
		promtoolAlerts{EvalTime: "10m", AlertName: "QlikSenseUsersAtSessionLimit", ExpAlerts: none},
		promtoolAlerts{EvalTime: "15m", AlertName: "QlikSenseActiveUsersHigh", ExpAlerts: none},
		promtoolAlerts{EvalTime: "20m", AlertName: "QlikSenseAnalyzerCapacityRunningOut", ExpAlerts: none},
		promtoolAlerts{EvalTime: "35m", AlertName: "QlikSenseLicencesNearlyAllAllocated", ExpAlerts: none})
	testFile := filepath.Join(dir, "alerts_test.json")
	data, err = json.MarshalIndent(promtoolTest{
		RuleFiles: []string{rules}, EvaluationInterval: "1m",
		Tests: []promtoolCase{{Interval: "1m", InputSeries: series, AlertRuleTest: checks}},
	}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(testFile, data, 0o600))
	out, err = exec.Command(promtool, "test", "rules", testFile).CombinedOutput()
	require.NoError(t, err, "promtool test rules %s:\n%s\n%s", testFile, out, data)
	t.Logf("promtool test rules: %s", strings.TrimSpace(string(out)))
}

// alertLicences is a repository block that asks the licences every second,
// its stand-in repository and the overview it serves: FullOverview's, its
// analyzer capacity's minutes not used (no hours_left), the key valid
// until keyValidTo, no user allocated (not needed here).
func alertLicences(t *testing.T) (string, *qrstest.Server, qrstest.Overview) {
	t.Helper()
	block, server := repositoryServer(t, nil)
	overview := qrstest.FullOverview()
	server.SetLicenseAnswer(qrstest.OverviewPath, overview.JSON())
	server.SetLicenseAnswer(qrstest.LicensePath, licenceValidTo(keyValidTo))
	server.SetLicenseAnswer(qrstest.ProfessionalPath, qrstest.AllocationsAnswer("License.ProfessionalAccessType", nil, nil))
	server.SetLicenseAnswer(qrstest.AnalyzerPath, qrstest.AllocationsAnswer("License.AnalyzerAccessType", nil, nil))
	return block + "    license_interval = \"1s\"\n", server, overview
}

// licenceValidTo is the repository's licence answer of a key valid until
// date (YYYY-MM-DD).
func licenceValidTo(date string) string {
	return qrstest.LicenseAnswer(false, "Valid From: 2025-01-01\nValid To: "+date+"\n", "")
}

// humanize is Prometheus's template function of that name: 4 significant
// digits and an SI prefix.
func humanize(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v)
	}
	prefix := ""
	if math.Abs(v) >= 1 {
		for _, p := range []string{"k", "M", "G", "T", "P", "E", "Z", "Y"} {
			if math.Abs(v) < 1000 {
				break
			}
			prefix, v = p, v/1000
		}
		return fmt.Sprintf("%.4g%s", v, prefix)
	}
	for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
		if math.Abs(v) >= 1 {
			break
		}
		prefix, v = p, v*1000
	}
	return fmt.Sprintf("%.4g%s", v, prefix)
}

// heartbeat sends each server's sign of life every 200 ms until stopped.
type heartbeat struct {
	mu      sync.Mutex
	stopped map[string]bool
}

func newHeartbeat(t *testing.T, conn net.Conn, alive func(server string) string, servers ...string) *heartbeat {
	t.Helper()
	h := &heartbeat{stopped: make(map[string]bool)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(200 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			for _, server := range servers {
				h.mu.Lock()
				stopped := h.stopped[server]
				h.mu.Unlock()
				if !stopped {
					fmt.Fprint(conn, alive(server))
				}
			}
		}
	})
	t.Cleanup(func() {
		close(done)
		wg.Wait()
	})
	return h
}

func (h *heartbeat) stop(server string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[server] = true
}

// pluginProcess is the pid of the plugin binary that Telegraf's execd runs.
func pluginProcess(t *testing.T, telegraf int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(telegraf) && strings.Contains(string(stat), "(qliksense_sessi") {
			return pid
		}
	}
	t.Fatalf("no qliksense_sessions process under Telegraf (pid %d)", telegraf)
	return 0
}
