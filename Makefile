# cyclepix — build, test and demo. `make demo` and `make test` install the
# Debian packages they need with apt when they are missing.

GO       ?= go
BIN      := bin/cyclepix
# What building and running needs (libgloo-dev: the Gloo headers that
# libtorch's distributed backend needs for --nproc; without them the build
# still works and --nproc says what is missing).
APT      := libtorch-dev libgloo-dev
# What the tests need besides: PyTorch, scikit-image, SciPy and ONNX for the
# cross-checks against the reference libraries, Chromium for the browser
# tests (Node.js and npm, for onnxruntime, come with the machine image).
TEST_APT := python3-torch python3-skimage python3-scipy python3-onnx chromium

# The demo: CycleGAN on the built-in blobs2zebras data (a toy horse2zebra),
# small enough for a laptop CPU in a few minutes.
DEMO_DATA := datasets/blobs2zebras
DEMO_NAME := blobs2zebras_demo
DEMO_NET  := --ngf 16 --ndf 16 --netG resnet_6blocks
DEMO_TRAIN := --load_size 72 --crop_size 64 --n_epochs 3 --n_epochs_decay 2 --max_dataset_size 120 \
	--display_freq 40 --print_freq 40 --save_epoch_freq 5 --seed 1

.PHONY: all build deps test-deps test vet demo bench clean

all: build

# apt-installs the packages of $(1) that are missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(APT))

test-deps: deps
	$(call apt_install,$(TEST_APT))

build: deps
	$(GO) build -o $(BIN) ./cmd/cyclepix

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed on the files above" && false)

# The test command of the README and of CI.
test: test-deps vet
	$(GO) test -count=1 -timeout 60m ./...

demo: build
	./$(BIN) version
	@test -d $(DEMO_DATA)/trainA || ./$(BIN) data builtin blobs2zebras --out $(DEMO_DATA) --size 64
	./$(BIN) train --dataroot $(DEMO_DATA) --name $(DEMO_NAME) $(DEMO_NET) $(DEMO_TRAIN)
	./$(BIN) test --dataroot $(DEMO_DATA) --name $(DEMO_NAME) --model cycle_gan --dataset_mode unaligned $(DEMO_NET) \
		--crop_size 64 --num_test all
	@echo "training pages: checkpoints/$(DEMO_NAME)/web/index.html; results: results/$(DEMO_NAME)/test_latest/index.html"

bench: build
	$(GO) run ./bench
	$(GO) run ./bench -suite iter

clean:
	rm -rf bin
