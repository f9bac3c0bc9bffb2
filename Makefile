# qliksense_sessions: `make demo` shows the whole pipeline on sample traffic,
# `make test` runs every test (CI runs exactly this).
GO              ?= go
BIN             := $(CURDIR)/bin
TELEGRAF_VERSION := v1.37.2
# A trimmed Telegraf with just what the demo, the examples and the tests use.
TELEGRAF_TAGS   := custom,inputs.execd,outputs.file,outputs.mqtt,outputs.influxdb,outputs.influxdb_v2,outputs.prometheus_client,parsers.influx,serializers.influx,serializers.template,serializers.json

.PHONY: all build test unit-test e2e-test vet demo bench bench-load clean

all: build

build:
	$(GO) build -o $(BIN)/qliksense_sessions ./cmd/qliksense_sessions
	$(GO) build -o $(BIN)/qliksense_replay ./cmd/qliksense_replay
	$(GO) build -o $(BIN)/qliksense_loadtest ./cmd/qliksense_loadtest

# Telegraf itself, built once (about 45 s on two cores).
$(BIN)/telegraf:
	GOBIN=$(BIN) $(GO) install -tags "$(TELEGRAF_TAGS)" github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION)

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...

unit-test:
	$(GO) test -race ./...

e2e-test: build $(BIN)/telegraf
	QSS_BIN_DIR=$(BIN) $(GO) test -tags e2e -count=1 -timeout 20m -v ./test/e2e/...

test: vet unit-test e2e-test

demo: build $(BIN)/telegraf
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./plugins/...

# Loopback load test at rising rates (about 3 minutes); prints a Markdown table.
bench-load: build $(BIN)/telegraf
	$(BIN)/qliksense_loadtest -bin $(BIN) -rates 10000,50000,100000,200000 -duration 10s

clean:
	rm -rf $(BIN)
