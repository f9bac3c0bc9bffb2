# qliksense_sessions: `make demo` shows the whole pipeline on sample traffic,
# `make test` runs every test (CI runs exactly this).
GO              ?= go
BIN             := $(CURDIR)/bin
TELEGRAF_VERSION := v1.37.2
# A trimmed Telegraf with just what the demo, the examples and the tests use
# (the examples' inputs.execd reads with influx_parser_type = "upstream";
# make bench-load compares the plugin with inputs.socket_listener).
TELEGRAF_TAGS   := custom,inputs.execd,inputs.socket_listener,parsers.value,outputs.file,outputs.mqtt,outputs.influxdb,outputs.influxdb_v2,outputs.prometheus_client,parsers.influx,parsers.influx_upstream,serializers.influx,serializers.template,serializers.json

# What the binaries' -version reports and the archives of `make dist` are
# named by: `git describe` without the tag's "v" (0.3.0, 0.3.0-2-gabc1234-dirty),
# "dev" outside a git work tree. `make dist VERSION=0.3.0` overrides it.
VERSION         := $(patsubst v%,%,$(shell git describe --tags --always --dirty 2>/dev/null || echo dev))
COMMIT          := $(shell git describe --always --dirty --exclude '*' 2>/dev/null || echo unknown)
VERSION_PKG     := github.com/qliksense-telegraf/qliksense-sessions/internal/version
LDFLAGS         := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)
DIST_TARGETS    := windows/amd64,linux/amd64,linux/arm64

.PHONY: all build test unit-test e2e-test alert-rules vet lint demo bench bench-load fuzz fuzz-ci soak soak-hostile dist clean FORCE

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/qliksense_sessions ./cmd/qliksense_sessions
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/qliksense_replay ./cmd/qliksense_replay
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/qliksense_loadtest ./cmd/qliksense_loadtest

# Telegraf itself, built once (about 45 s on two cores), and again when its
# version or tags change (the stamp holds those it was built with).
$(BIN)/telegraf: $(BIN)/.telegraf-build
	GOBIN=$(BIN) $(GO) install -tags "$(TELEGRAF_TAGS)" github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION)

$(BIN)/.telegraf-build: FORCE
	@mkdir -p $(BIN)
	@echo '$(TELEGRAF_VERSION) $(TELEGRAF_TAGS)' | cmp -s - $@ || echo '$(TELEGRAF_VERSION) $(TELEGRAF_TAGS)' > $@

FORCE:

# Windows too: the binary ships for it (make dist).
vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	GOOS=windows $(GO) vet ./...
	GOOS=windows $(GO) vet -tags e2e ./test/...
	GOOS=windows $(GO) build ./...

# golangci-lint v2 with .golangci.yml (Telegraf's linters and settings; it
# lints test/e2e too). The binary is taken from PATH, else from Go's bin
# directory (GOBIN, or the first GOPATH entry's bin), where `go install` puts it.
GOLANGCI_LINT_VERSION := v2.15.0
lint:
	@lint=$$(command -v golangci-lint || true); \
	if [ -z "$$lint" ]; then \
		gobin=$$($(GO) env GOBIN); \
		[ -n "$$gobin" ] || gobin=$$($(GO) env GOPATH | cut -d: -f1)/bin; \
		[ -x "$$gobin/golangci-lint" ] && lint=$$gobin/golangci-lint; \
	fi; \
	if [ -z "$$lint" ]; then \
		echo "make lint: golangci-lint not found in PATH or in Go's bin directory; install it with" >&2; \
		echo "  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)" >&2; \
		exit 1; \
	fi; \
	if ! "$$lint" version 2>/dev/null | grep -q 'version v\?2\.'; then \
		echo "make lint: $$lint is not golangci-lint v2 ($$("$$lint" version 2>&1 | head -1)); install it with" >&2; \
		echo "  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)" >&2; \
		exit 1; \
	fi; \
	echo "$$lint run ./..."; \
	"$$lint" run ./...

unit-test:
	$(GO) test -race ./...

# The tests that lacked a server (mosquitto, influxd) are listed again after
# go test's output, with how to install it; in CI (CI=true) they fail.
E2E_SKIPPED     := $(BIN)/e2e-skipped.txt
e2e-test: build $(BIN)/telegraf
	@rm -f $(E2E_SKIPPED)
	QSS_BIN_DIR=$(BIN) QSS_E2E_SKIPPED=$(E2E_SKIPPED) $(GO) test -tags e2e -count=1 -timeout 20m -v -skip '^TestPrometheusAlertRules$$' ./test/e2e/...; \
	status=$$?; if [ -s $(E2E_SKIPPED) ]; then echo; cat $(E2E_SKIPPED); fi; exit $$status

# examples/prometheus-alerts.yml: promtool check rules, and promtool test
# rules on series the plugin produced through Telegraf's prometheus_client
# output (the e2e test TestPrometheusAlertRules). promtool comes with
# Debian's prometheus package (.ci/install-deps); without it the test is
# skipped and named after go test's output, in CI (CI=true) it fails.
ALERTS_SKIPPED  := $(BIN)/alert-rules-skipped.txt
alert-rules: build $(BIN)/telegraf
	@rm -f $(ALERTS_SKIPPED)
	QSS_BIN_DIR=$(BIN) QSS_E2E_SKIPPED=$(ALERTS_SKIPPED) $(GO) test -tags e2e -count=1 -timeout 5m -v -run '^TestPrometheusAlertRules$$' ./test/e2e/; \
	status=$$?; if [ -s $(ALERTS_SKIPPED) ]; then echo; cat $(ALERTS_SKIPPED); fi; exit $$status

# In CI (CI set, as e2e-test reads it) the test run ends with fuzz-ci.
test: vet lint unit-test e2e-test alert-rules $(if $(CI),fuzz-ci)

demo: build $(BIN)/telegraf
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./plugins/...

# Every fuzz target for FUZZTIME each, one go test -fuzz per target (the
# script finds them, so new ones are picked up); fails on any crasher and
# names the input it wrote under the package's testdata/fuzz/.
FUZZTIME        ?= 60s
fuzz:
	GO="$(GO)" FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# What CI runs as part of `make test`: each target for 30 s.
fuzz-ci:
	GO="$(GO)" FUZZTIME=30s ./scripts/fuzz.sh

# Soak (about 3 minutes): 3,000,000 events with churn (users log in and
# out, leave for good, new ones come) through the plugin binary over
# loopback, then most users log out; passes when RSS stays on its plateau
# and the final set is exact. SOAK_EVENTS and SOAK_RATE change the run.
SOAK_EVENTS     ?= 3000000
SOAK_RATE       ?= 20000
soak: build
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/qliksense_soak ./cmd/qliksense_soak
	$(BIN)/qliksense_soak -bin $(BIN) -events $(SOAK_EVENTS) -rate $(SOAK_RATE)

# Hostile soak (about 2 1/2 minutes): the soak's traffic with a tenth of hostile
# datagrams mixed in (oversize, malformed, control characters, unknown
# commands, excluded users, session ids past 128 bytes and past
# max_user_sessions, passing users and apps), bursts of users and apps past
# max_users and max_apps, and a session API answering 300,000 sessions,
# null, control characters and bad JSON every second; passes when RSS stays
# on its plateau, every datagram sent is in the counter of its kind, and
# the final set is exact. Not part of `make test`. At 10,000 events/s by
# default: the API flood takes about a core, and on two cores the plugin
# then loses datagrams at 20,000/s (README, Soak).
SOAK_HOSTILE_EVENTS ?= 1000000
SOAK_HOSTILE_RATE   ?= 10000
soak-hostile: build
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/qliksense_soak ./cmd/qliksense_soak
	$(BIN)/qliksense_soak -bin $(BIN) -hostile -events $(SOAK_HOSTILE_EVENTS) -rate $(SOAK_HOSTILE_RATE)

# Loopback load test (about 4 minutes): the minimal reader, Telegraf's
# socket_listener, the plugin alone and under Telegraf, the same datagrams
# to each, CPU per event at 20,000/s and kept at 100,000/s, three rounds
# interleaved; prints Markdown tables, the medians and the ratios.
bench-load: build $(BIN)/telegraf
	$(BIN)/qliksense_loadtest -bin $(BIN) -rounds 3 -duration 5s

# Release archives: dist/qliksense_sessions_<version>_<os>_<arch>.zip (the
# binary, sample.conf, README.md, examples) and dist/SHA256SUMS. Files in them
# carry the commit's time, so a commit rebuilds to the same archives.
dist:
	rm -rf dist
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null) $(GO) run ./internal/dist -go "$(GO)" \
		-version "$(VERSION)" -ldflags "-s -w $(LDFLAGS)" -targets "$(DIST_TARGETS)" -out dist

clean:
	rm -rf $(BIN) dist
