# cyclepix — build, test and demo. `make demo` and `make test` install the
# Debian packages they need (libtorch-dev; python3-torch for cross-checks)
# when they are missing.

GO        ?= go
BIN       := bin/cyclepix
APT_PKGS  := libtorch-dev python3-torch
TEST_PKGS := chromium

.PHONY: all build deps test-deps test vet demo bench clean

all: build

# Installs libtorch (and PyTorch for the cross-checks) with apt when absent.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/cyclepix

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed on the files above" && false)

# The test command of the README and of CI.
test: deps vet
	$(GO) test -count=1 -timeout 40m ./...

demo: build
	./$(BIN) version --forward 256

bench: build
	$(GO) run ./bench

clean:
	rm -rf bin
