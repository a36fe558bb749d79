# Build and test SMVS. `make test` is what CI runs (through .ci/run).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
STATICCHECK = $(shell go env GOPATH)/bin/staticcheck

.PHONY: build deps test demo bench man clean

build:
	go build -trimpath -ldflags "-X smvs/lib/cli.version=$(VERSION)" -o bin/ ./cmd/...

deps:
	scripts/install-deps

test: deps
	@echo '==> gofmt'
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "not gofmt'd:"; echo "$$files"; exit 1; fi
	@echo '==> go vet'
	go vet ./...
	@echo '==> staticcheck'
	$(STATICCHECK) ./...
	@echo '==> go test -race'
	go test -race -count=1 ./...
	CGO_ENABLED=1 go test -count=1 -tags mediadevices ./lib/capture/
	CGO_ENABLED=1 go build -tags mediadevices -o /dev/null ./cmd/smvs-call
	@echo '==> fuzz'
	scripts/fuzz
	@echo '==> build'
	$(MAKE) --no-print-directory build
	@echo '==> bats test/e2e'
	@if ls test/e2e/*.bats >/dev/null 2>&1; then bats test/e2e; else echo 'no test/e2e/*.bats'; fi
	@echo '==> man pages'
	scripts/lint-man
	@echo '==> cross compile'
	scripts/cross

demo: build
	scripts/demo

bench: build
	scripts/bench

man:
	scripts/lint-man

clean:
	rm -rf bin/
