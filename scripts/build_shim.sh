#!/bin/sh
# Builds lib/libcyclepix_torch.so, the C ABI shim (every torch/*.cpp) as a
# shared library, for binaries built with -tags sharedshim (make
# build-shared). Run from the repository root; `make shim` calls it.
#
#   LIBTORCH   where libtorch is: a libtorch zip or a PyTorch wheel's torch/
#              folder (include/, include/torch/csrc/api/include, lib/);
#              unset: Debian's libtorch-dev (/usr/include, /usr/lib/<arch>)
#   CXX        compiler (default g++, else c++)
#   CXXSTD     c++17 or c++20 (default: from the libtorch version; the other
#              is tried if the first fails)
#   TORCH_CXX11_ABI  0 or 1 (default: the wheel's torch._C._GLIBCXX_USE_CXX11_ABI
#              via $PYTHON, else guessed from libc10.so's symbols)
#   PYTHON     Python that imports that torch (default python3)
#   DNNL       0 or 1: shim_dnnl.cpp's oneDNN path (default: on for Debian's
#              libtorch, which links the system libdnnl; off for a LIBTORCH)
#   EXTRA_CXXFLAGS  more compiler flags (e.g. -DUSE_C10D_NCCL)
#   SHIM_OUT   output file (default lib/libcyclepix_torch.so; not OUT, which
#              the GPU machine sets for its results)
set -eu

SHIM_OUT=${SHIM_OUT:-lib/libcyclepix_torch.so}
PYTHON=${PYTHON:-python3}
if [ -z "${CXX:-}" ]; then
	if command -v g++ >/dev/null 2>&1; then CXX=g++; else CXX=c++; fi
fi

if [ -n "${LIBTORCH:-}" ]; then
	LIBTORCH=$(cd "$LIBTORCH" && pwd)
	INC="-I$LIBTORCH/include -I$LIBTORCH/include/torch/csrc/api/include"
	LIBDIR=$LIBTORCH/lib
	VERSION_H=$LIBTORCH/include/torch/csrc/api/include/torch/version.h
else
	arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
	INC="-I/usr/include/torch/csrc/api/include"
	LIBDIR=/usr/lib/$arch
	VERSION_H=/usr/include/torch/csrc/api/include/torch/version.h
fi
[ -f "$VERSION_H" ] || { echo "build_shim: no $VERSION_H (set LIBTORCH to a libtorch or a wheel's torch/ folder)" >&2; exit 1; }
[ -e "$LIBDIR/libtorch_cpu.so" ] || { echo "build_shim: no $LIBDIR/libtorch_cpu.so" >&2; exit 1; }

# The version macros: in torch/version.h up to 2.7, in a header it includes
# (torch/headeronly/version.h) since.
vdefs() { cat "$VERSION_H" "$(dirname "$VERSION_H")/headeronly/version.h" "$(dirname "$VERSION_H")"/../../../../../torch/headeronly/version.h 2>/dev/null; }
major=$(vdefs | sed -n 's/^#define TORCH_VERSION_MAJOR \([0-9]*\).*/\1/p' | head -1)
minor=$(vdefs | sed -n 's/^#define TORCH_VERSION_MINOR \([0-9]*\).*/\1/p' | head -1)
if [ -z "$major" ] && [ -n "${LIBTORCH:-}" ]; then
	major=$(grep -rhs '^#define TORCH_VERSION_MAJOR' "$LIBTORCH/include/torch" | sed 's/[^0-9]*\([0-9]*\).*/\1/' | head -1)
	minor=$(grep -rhs '^#define TORCH_VERSION_MINOR' "$LIBTORCH/include/torch" | sed 's/[^0-9]*\([0-9]*\).*/\1/' | head -1)
fi
major=${major:-0} minor=${minor:-0}

# C++ standard: libtorch 2.x needs C++17; later 2.x headers require C++20.
if [ -z "${CXXSTD:-}" ]; then
	if [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 12 ]; }; then STD=c++20; ALT=c++17; else STD=c++17; ALT=c++20; fi
else
	STD=$CXXSTD; ALT=
fi

# libstdc++ ABI of the libtorch build: both sides must agree on std::string.
ABI=
if [ -n "${TORCH_CXX11_ABI:-}" ]; then
	ABI=$TORCH_CXX11_ABI
elif [ -n "${LIBTORCH:-}" ]; then
	ABI=$("$PYTHON" -c 'import os, sys, torch
if os.path.realpath(os.path.dirname(torch.__file__)) == os.path.realpath(sys.argv[1]):
    print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' "$LIBTORCH" 2>/dev/null || true)
	if [ -z "$ABI" ]; then
		if grep -q '__cxx11' "$LIBDIR/libc10.so"; then ABI=1; else ABI=0; fi
	fi
fi
ABIFLAG=
[ -n "$ABI" ] && ABIFLAG="-D_GLIBCXX_USE_CXX11_ABI=$ABI"

# libtorch_cuda registers the CUDA kernels and hooks when it loads; nothing
# references it directly, so it must be linked with --no-as-needed.
CUDALIBS=
for l in torch_cuda c10_cuda; do
	[ -e "$LIBDIR/lib$l.so" ] && CUDALIBS="$CUDALIBS -l$l"
done
# A wheel's CUDA libraries (site-packages/nvidia/*/lib) for the linker to
# follow libtorch_cuda's dependencies; at run time its own RPATH finds them.
RPATHLINK=
if [ -n "${LIBTORCH:-}" ]; then
	for d in "$LIBTORCH"/../nvidia/*/lib "$LIBTORCH"/../nvidia/*/*/lib; do
		[ -d "$d" ] && RPATHLINK="$RPATHLINK -Wl,-rpath-link,$(cd "$d" && pwd)"
	done
fi
RPATH=
[ -n "${LIBTORCH:-}" ] && RPATH="-Wl,-rpath,$LIBDIR"

# oneDNN's own API for shim_dnnl.cpp (link_dnnl.go in the default build):
# only where libtorch itself links the system's libdnnl (Debian), so that
# the process has one oneDNN. Wheels carry theirs inside libtorch_cpu.
DNNL=${DNNL:-auto}
if [ "$DNNL" = auto ]; then
	DNNL=0
	if [ -z "${LIBTORCH:-}" ] && [ -f /usr/include/oneapi/dnnl/dnnl.hpp ] && [ -e "$LIBDIR/libdnnl.so" ]; then DNNL=1; fi
fi
DNNLCXX=
DNNLLD=
if [ "$DNNL" = 1 ]; then DNNLCXX=-DCYCLEPIX_DNNL; DNNLLD=-ldnnl; fi

SRCS=$(ls torch/*.cpp)
for f in $SRCS; do
	head -n 1 "$f" | grep -qx '//go:build !sharedshim' ||
		{ echo "build_shim: $f must start with '//go:build !sharedshim' (or -tags sharedshim compiles it into the Go binary too)" >&2; exit 1; }
done

OBJ=$(dirname "$SHIM_OUT")/obj
mkdir -p "$OBJ"
echo "build_shim: libtorch $major.$minor at $LIBDIR, $CXX -std=$STD ${ABIFLAG:-(default ABI)}${CUDALIBS:+, CUDA:$CUDALIBS}, oneDNN $DNNL; $(echo $SRCS)"

# Compiles every source at once (a few files) with -std=$1.
compile() {
	pids=
	for f in $SRCS; do
		o=$OBJ/$(basename "$f" .cpp).o
		# shellcheck disable=SC2086
		$CXX -std="$1" -O2 -fPIC $ABIFLAG $DNNLCXX ${EXTRA_CXXFLAGS:-} $INC -Wno-deprecated-declarations -Wno-unused-parameter \
			-c "$f" -o "$o" &
		pids="$pids $!"
	done
	ok=0
	for p in $pids; do wait "$p" || ok=1; done
	return $ok
}

if ! compile "$STD"; then
	[ -n "$ALT" ] || exit 1
	echo "build_shim: -std=$STD failed; trying -std=$ALT" >&2
	compile "$ALT" || exit 1
fi

OBJS=
for f in $SRCS; do OBJS="$OBJS $OBJ/$(basename "$f" .cpp).o"; done
mkdir -p "$(dirname "$SHIM_OUT")"
# shellcheck disable=SC2086
$CXX -shared -o "$SHIM_OUT.tmp" $OBJS -Wl,-soname,libcyclepix_torch.so -Wl,-z,defs -L"$LIBDIR" $RPATH $RPATHLINK \
	-Wl,--no-as-needed $CUDALIBS -ltorch -ltorch_cpu -lc10 -Wl,--as-needed $DNNLLD
mv "$SHIM_OUT.tmp" "$SHIM_OUT"
echo "build_shim: wrote $SHIM_OUT"
