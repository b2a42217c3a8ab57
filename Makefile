# Keycard's front door. `make help` lists the targets.
GO      ?= go
BIN     := bin/keycard
CONFIG  ?= configs/keycard.dev.yaml
DATA    ?= data
FUZZTIME ?= 15s
BENCH_COUNT ?= 3000

.PHONY: help build run test test-unit test-interop bench fuzz lint deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## build bin/keycard
	$(GO) build -o $(BIN) ./cmd/keycard

# The dev passphrase is random per checkout, kept in data/ (mode 0600), never
# in the YAML.
$(DATA)/ca-passphrase:
	@mkdir -p -m 700 $(DATA)
	@umask 077; head -c 24 /dev/urandom | base64 > $@

run: build $(DATA)/ca-passphrase ## run Keycard with the dev config: CA, demo stay and voucher on first start
	./$(BIN) --config $(CONFIG) serve --demo

deps: ## install the real peers the tests use (eapol_test, FreeRADIUS, radclient, hostapd, wpa_supplicant, Chromium, xmllint)
	./scripts/deps.sh
	$(GO) mod download

test: deps ## every test: unit, fuzz seeds, CLI, and interop with eapol_test, hostapd + wpa_supplicant and FreeRADIUS
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m -skip '^TestFlood' ./...
	$(GO) test -count=1 -race -timeout 20m ./eaptls/... ./radiusd/... ./sessions/...
	@# The flood test measures the server's memory and its guests' answers
	@# under 20,000 hostile packets/s for a minute: alone, so no other test
	@# shares the two cores with it.
	$(GO) test -count=1 -timeout 10m -run '^TestFlood' -v ./cmd/keycard/

bench: deps build ## Go benchmarks, then Keycard vs FreeRADIUS on the same certificates and load: EAP-TLS and accounting (the README's tables)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./eaptls/ ./radiusd/ ./vouchers/ ./sessions/
	$(GO) test -run '^$$' -bench 'Coach|Rush' -benchtime 1x -timeout 5m ./portal/...
	./bench/run.sh ./$(BIN) --count $(BENCH_COUNT)

fuzz: ## run each fuzz target for $(FUZZTIME)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean: ## remove the binary (the data folder is kept: it holds the CA)
	rm -rf bin
