#!/bin/sh
# Build dsm.ko out of tree for meson: Kbuild wants the sources in the
# directory it builds in, so copy them into the build tree first.
# usage: build-module.sh KDIR SRCDIR INCLUDEDIR OUTDIR OUTPUT
set -eu
kdir=$1 src=$2 inc=$3 out=$4 output=$5
mkdir -p "$out"
cp "$src"/*.c "$src"/*.h "$src"/Kbuild "$out"/
make -s -C "$kdir" M="$out" DSM_INCLUDE="$inc" modules
cp "$out"/dsm.ko "$output"
