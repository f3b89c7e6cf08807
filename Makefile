# cyclepix — build, test and demo. `make demo` and `make test` install the
# Debian packages they need with apt when they are missing.

GO       ?= go
BIN      := bin/cyclepix
# What building and running needs (libgloo-dev: the Gloo headers that
# libtorch's distributed backend needs for --nproc; without them the build
# still works and --nproc says what is missing; libjpeg-turbo and libtiff:
# the decoders Pillow uses, so that images load as in the reference).
APT      := libtorch-dev libgloo-dev libdnnl-dev libjpeg62-turbo-dev libtiff-dev
# What the tests need besides: PyTorch, Pillow, scikit-image, SciPy, ONNX and tifffile
# for the cross-checks against the reference libraries, libjpeg-turbo's and
# libtiff's tools to write the image variants Pillow cannot, Chromium for the
# browser tests (Node.js and npm, for onnxruntime, come with the machine image).
TEST_APT := python3-torch python3-pil python3-skimage python3-scipy python3-onnx python3-tifffile libjpeg-turbo-progs libtiff-tools chromium

# The demo: CycleGAN on the built-in blobs2zebras data (a toy horse2zebra),
# small enough for 2 CPU cores in under 5 minutes, build included. The
# configuration was chosen by `cyclepix eval --quality` among candidates
# (README, "Result quality"): a U-Net generator (its skip connections keep
# the backgrounds that a ResNet of this size turned grey), a discriminator
# of 2 layers (34-pixel patches: stripes are a texture), full-size 64-pixel
# images, a 5x larger learning rate than the reference's and a full-weight
# identity loss, for 2000 iterations.
DEMO_DATA := datasets/blobs2zebras
DEMO_NAME := blobs2zebras_demo
DEMO_RESULTS := results/$(DEMO_NAME)
DEMO_NET  := --ngf 16 --ndf 32 --netG unet_32 --netD n_layers --n_layers_D 2
DEMO_TRAIN := --load_size 64 --crop_size 64 --n_epochs 5 --n_epochs_decay 5 --lr 0.001 --lambda_identity 1 \
	--display_freq 200 --print_freq 200 --save_epoch_freq 10 --seed 1

.PHONY: all build deps test-deps test vet demo demo-steps bench clean shim build-shared gpu-bundle

# The shim as its own library (README, "GPU / swapping the engine"):
# `make shim` builds lib/libcyclepix_torch.so from every torch/*.cpp against
# LIBTORCH (unset: Debian's libtorch-dev; a wheel:
# LIBTORCH=$$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')),
# and `make build-shared` a bin/cyclepix that links only that library.
LIBTORCH ?=
SHIM     := lib/libcyclepix_torch.so
SHARED   := -tags sharedshim

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

# The demo's steps, timed (the build included, as on a fresh clone).
demo:
	@start=$$(date +%s); $(MAKE) --no-print-directory demo-steps && \
		echo "make demo: $$(( $$(date +%s) - start )) s"

demo-steps: build
	./$(BIN) version
	@test -d $(DEMO_DATA)/trainA || ./$(BIN) data builtin blobs2zebras --out $(DEMO_DATA) --size 64
	./$(BIN) train --dataroot $(DEMO_DATA) --name $(DEMO_NAME) $(DEMO_NET) $(DEMO_TRAIN)
	./$(BIN) test --dataroot $(DEMO_DATA) --name $(DEMO_NAME) --model cycle_gan --dataset_mode unaligned $(DEMO_NET) \
		--crop_size 64 --num_test all
# The quality figures last, and where to look even when they fall short.
	@./$(BIN) eval --quality blobs2zebras --name $(DEMO_NAME) --strict \
		--side_by_side $(DEMO_RESULTS)/side_by_side.png --json $(DEMO_RESULTS)/quality.json; rc=$$?; \
	echo "look at: $(DEMO_RESULTS)/side_by_side.png (a few inputs and outputs), $(DEMO_RESULTS)/test_latest/index.html (every test image),"; \
	echo "         checkpoints/$(DEMO_NAME)/web/index.html (training: losses and images per epoch)"; exit $$rc

bench: build
	$(GO) run ./bench -suite iter
	$(GO) run ./bench -suite infer -sizes 256,512
	$(GO) run ./bench

shim:
	LIBTORCH="$(LIBTORCH)" scripts/build_shim.sh

$(SHIM): $(wildcard torch/*.cpp torch/*.h) scripts/build_shim.sh
	LIBTORCH="$(LIBTORCH)" scripts/build_shim.sh

build-shared: $(SHIM)
	$(GO) build $(SHARED) -o $(BIN) ./cmd/cyclepix
	@readelf -d $(BIN) | grep NEEDED | grep -q libcyclepix_torch && ! readelf -d $(BIN) | grep NEEDED | grep -q 'libtorch[._]' || \
		(echo "$(BIN) should need libcyclepix_torch and not libtorch directly" && false)
	./$(BIN) version | head -3

# What scripts/gpu_bench.sh needs on a GPU machine without Go: both
# binaries built with the tag (the shim is rebuilt there against the
# machine's PyTorch wheel).
gpu-bundle: $(SHIM)
	$(GO) build $(SHARED) -trimpath -ldflags='-s -w' -o bin/cyclepix ./cmd/cyclepix
	$(GO) build $(SHARED) -trimpath -ldflags='-s -w' -o bin/bench ./bench
	@ls -l bin/cyclepix bin/bench
	@echo "carry: bin (git-tracked sources, bench/*.py and scripts/ travel with the tree; lib/ is rebuilt there)"
	@echo "run:   OUT=DIR bash scripts/gpu_bench.sh   (log in DIR/gpu_log.txt)"

clean:
	rm -rf bin lib
