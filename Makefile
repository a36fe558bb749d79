# Build and test SMVS. `make test` is what CI runs (through .ci/run).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
STATICCHECK = $(shell go env GOPATH)/bin/staticcheck

# Where `make build` puts the commands, and `make install` takes them from.
BIN = bin

# `make install` puts files where a distribution would, under
# $(DESTDIR)$(PREFIX): `make install DESTDIR=/tmp/stage PREFIX=/usr` for a
# package. `make uninstall`, with the same settings, removes those files.
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/site-functions
COMMANDS = $(notdir $(wildcard cmd/smvs-*))
MANPAGES = $(wildcard man/*.[18])

.PHONY: build deps test demo image bench man install uninstall clean

# urfave_cli_no_docs leaves out urfave/cli's markdown and man-page writers,
# which nothing here uses and whose package set-up every command paid for
# at start (0.5 to 1.5 ms).
GOTAGS = urfave_cli_no_docs

build:
	go build -trimpath -tags $(GOTAGS) -ldflags "-X smvs/lib/cli.version=$(VERSION)" -o $(BIN)/ ./cmd/...

deps:
	scripts/install-deps

# Each step of test prints the time it starts: CI keeps the whole well
# under 20 minutes on a 2-core machine.
test: deps
	@echo "==> gofmt  [$$(date -u +%T)]"
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "not gofmt'd:"; echo "$$files"; exit 1; fi
	@echo "==> go vet  [$$(date -u +%T)]"
	go vet ./...
	@echo "==> staticcheck  [$$(date -u +%T)]"
	$(STATICCHECK) ./...
	@echo "==> go test -race  [$$(date -u +%T)]"
	go test -race -count=1 ./...
	CGO_ENABLED=1 go test -count=1 -tags mediadevices ./lib/capture/
	CGO_ENABLED=1 go build -tags mediadevices -o /dev/null ./cmd/smvs-call
	@echo "==> fuzz  [$$(date -u +%T)]"
	scripts/fuzz
	@echo "==> build  [$$(date -u +%T)]"
	$(MAKE) --no-print-directory build
	@echo "==> bats test/e2e  [$$(date -u +%T)]"
	@if ls test/e2e/*.bats >/dev/null 2>&1; then scripts/e2e; else echo 'no test/e2e/*.bats'; fi
	@echo "==> man pages  [$$(date -u +%T)]"
	scripts/lint-man
	@echo "==> cross compile  [$$(date -u +%T)]"
	scripts/cross
	@echo "==> passed  [$$(date -u +%T)]"

demo: build
	scripts/demo

# image: the OCI images of the daemons, with podman or docker (deploy/).
image:
	VERSION=$(VERSION) scripts/image

bench: build
	scripts/bench

man:
	scripts/lint-man

# install: each command, its man page, and the bash and zsh completions it
# prints itself (`CMD --completion bash|zsh`).
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for cmd in $(COMMANDS); do \
		echo "install $$cmd"; \
		install -m 755 $(BIN)/$$cmd $(DESTDIR)$(BINDIR)/$$cmd; \
		$(BIN)/$$cmd --completion bash >"$$tmp/bash"; \
		install -m 644 "$$tmp/bash" $(DESTDIR)$(BASHCOMPDIR)/$$cmd; \
		$(BIN)/$$cmd --completion zsh >"$$tmp/zsh"; \
		install -m 644 "$$tmp/zsh" $(DESTDIR)$(ZSHCOMPDIR)/_$$cmd; \
	done
	@set -e; for page in $(MANPAGES); do \
		echo "install $$page"; \
		install -m 644 $$page $(DESTDIR)$(MANDIR)/man$${page##*.}/; \
	done

uninstall:
	rm -f $(foreach cmd,$(COMMANDS),$(DESTDIR)$(BINDIR)/$(cmd) \
		$(DESTDIR)$(BASHCOMPDIR)/$(cmd) $(DESTDIR)$(ZSHCOMPDIR)/_$(cmd))
	rm -f $(foreach page,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(page)))/$(notdir $(page)))

clean:
	rm -rf $(BIN)/
