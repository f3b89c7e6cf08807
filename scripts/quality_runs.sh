#!/bin/sh
# Result-quality runs: train a model on each built-in dataset, test it and
# judge it with `cyclepix eval --quality` (README, "Result quality").
#
#   scripts/quality_runs.sh [SCALE [DATASET...]]
#
# SCALE multiplies the epochs of the demo's configuration: 1 (the default)
# is `make demo`'s budget, about 3 minutes of training per dataset on 2
# cores; 10 is the README's "longer run", about half an hour for
# blobs2zebras. Each run's figures end up in results/<run>/quality.json and
# side_by_side.png; the script exits non-zero when a run misses a
# threshold, after running them all. DATASETs (blobs2zebras,
# shapes2photos, fluo2he, labels2scenes) choose among the runs; all but
# labels2scenes by default (512-pixel images: about an hour and a half per
# SCALE on 2 cores).
set -eu
SCALE=${1:-1}
[ $# -gt 0 ] && shift
DATASETS=${*:-blobs2zebras shapes2photos fluo2he}
for d in $DATASETS; do
	case $d in blobs2zebras | shapes2photos | fluo2he | labels2scenes) ;; *) echo "quality_runs.sh: unknown dataset '$d' (blobs2zebras, shapes2photos, fluo2he, labels2scenes)" >&2; exit 2 ;; esac
done
wants() { case " $DATASETS " in *" $1 "*) return 0 ;; esac; return 1; }
case $SCALE in '' | *[!0-9]*) echo "quality_runs.sh: SCALE must be a whole number, got '$SCALE'" >&2; exit 2 ;; esac
BIN=${BIN:-./bin/cyclepix}
test -x "$BIN" || { echo "quality_runs.sh: $BIN not found: run 'make build' first" >&2; exit 2; }
status=0

judge() { # dataset run
	"$BIN" eval --quality "$1" --name "$2" --strict \
		--side_by_side "results/$2/side_by_side.png" --json "results/$2/quality.json" || status=1
}

# blobs2zebras: the demo's CycleGAN (Makefile, DEMO_NET and DEMO_TRAIN).
if wants blobs2zebras; then
net="--ngf 16 --ndf 32 --netG unet_32 --netD n_layers --n_layers_D 2"
test -d datasets/blobs2zebras/trainA || "$BIN" data builtin blobs2zebras --out datasets/blobs2zebras --size 64
run=blobs2zebras_x$SCALE
# shellcheck disable=SC2086 # $net is a list of flags
"$BIN" train --dataroot datasets/blobs2zebras --name "$run" $net --load_size 64 --crop_size 64 \
	--n_epochs $((5 * SCALE)) --n_epochs_decay $((5 * SCALE)) --lr 0.001 --lambda_identity 1 \
	--display_freq 1000 --print_freq 1000 --save_epoch_freq 1000 --seed 1
# shellcheck disable=SC2086
"$BIN" test --dataroot datasets/blobs2zebras --name "$run" --model cycle_gan --dataset_mode unaligned $net \
	--crop_size 64 --num_test all
judge blobs2zebras "$run"
fi

# shapes2photos: pix2pix with a U-Net for 64-pixel images.
if wants shapes2photos; then
net="--model pix2pix --netG unet_64 --ngf 32"
test -d datasets/shapes2photos/train || "$BIN" data builtin shapes2photos --out datasets/shapes2photos --size 64
run=shapes2photos_x$SCALE
# shellcheck disable=SC2086
"$BIN" train --dataroot datasets/shapes2photos --name "$run" $net --load_size 64 --crop_size 64 \
	--n_epochs $((3 * SCALE)) --n_epochs_decay $((2 * SCALE)) \
	--display_freq 1000 --print_freq 1000 --save_epoch_freq 1000 --seed 1
# shellcheck disable=SC2086
"$BIN" test --dataroot datasets/shapes2photos --name "$run" $net --crop_size 64 --load_size 64 --num_test all
judge shapes2photos "$run"
fi

# fluo2he: pix2pix from four 12-bit fluorescence channels (uint16 TIFFs,
# declared 0..4095) to H&E, a small U-Net: about a minute per SCALE.
if wants fluo2he; then
net="--model pix2pix --dataset_mode paired --input_nc 4 --output_nc 3 --range_A 0:4095 --netG unet_64 --ngf 16 --ndf 16"
test -d datasets/fluo2he/trainA || "$BIN" data builtin fluo2he --out datasets/fluo2he --size 64
run=fluo2he_x$SCALE
# shellcheck disable=SC2086
"$BIN" train --dataroot datasets/fluo2he --name "$run" $net --load_size 64 --crop_size 64 \
	--n_epochs $((3 * SCALE)) --n_epochs_decay $((2 * SCALE)) \
	--display_freq 1000 --print_freq 1000 --save_epoch_freq 1000 --seed 1
# shellcheck disable=SC2086
"$BIN" test --dataroot datasets/fluo2he --name "$run" $net --crop_size 64 --load_size 64 --num_test all
judge fluo2he "$run"
fi

# labels2scenes: pix2pix (unet_256 on the colour label maps) against
# pix2pixHD (global generator, ngf 32, on one-hot labels and instance
# edges, two discriminator scales with feature matching; no VGG loss, whose
# torchvision weights need a download) for the same number of iterations,
# on 512-pixel street scenes (README, "Result quality").
if wants labels2scenes; then
test -d datasets/labels2scenes/train_label || "$BIN" data builtin labels2scenes --out datasets/labels2scenes --size 512 --num_train 100 --num_test 20
run=labels2scenes_pix2pix_x$SCALE
net="--model pix2pix --dataset_mode pix2pixhd --label_nc 0 --no_instance --netG unet_256"
# shellcheck disable=SC2086
"$BIN" train --dataroot datasets/labels2scenes --name "$run" $net --load_size 512 --crop_size 512 --preprocess none \
	--n_epochs $((2 * SCALE)) --n_epochs_decay $((2 * SCALE)) --display_freq 100000 --print_freq 50 --save_epoch_freq 1000 --seed 1
# shellcheck disable=SC2086
"$BIN" test --dataroot datasets/labels2scenes --name "$run" $net --preprocess none --num_test all
judge labels2scenes "$run"
run=labels2scenes_pix2pixhd_x$SCALE
"$BIN" train --dataroot datasets/labels2scenes --name "$run" --model pix2pixhd --label_nc 8 --ngf 32 --no_vgg_loss \
	--resize_or_crop none --niter $((2 * SCALE)) --niter_decay $((2 * SCALE)) --display_freq 100000 --print_freq 50 \
	--save_epoch_freq 1000 --seed 1
"$BIN" test --dataroot datasets/labels2scenes --name "$run" --resize_or_crop none --num_test all
judge labels2scenes "$run"
fi

exit $status
