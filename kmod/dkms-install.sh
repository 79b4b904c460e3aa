#!/bin/sh
# Install dsm.ko through DKMS (needs the dkms package and kernel headers).
# usage: kmod/dkms-install.sh [KERNEL_VERSION]   (default: the running one)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/kmod/dkms.conf")
kver=${1:-$(uname -r)}
src=/usr/src/dsm-$ver
rm -rf "$src"
mkdir -p "$src/include/dsm"
cp "$top"/kmod/*.c "$top"/kmod/*.h "$top"/kmod/Kbuild "$top"/kmod/dkms.conf "$src"/
cp "$top"/include/dsm/ring.h "$top"/include/dsm/ring_rules.h "$top"/include/dsm/kmod.h "$src/include/dsm/"
dkms remove -m dsm -v "$ver" --all >/dev/null 2>&1 || true
dkms add -m dsm -v "$ver"
dkms build -m dsm -v "$ver" -k "$kver"
dkms install -m dsm -v "$ver" -k "$kver"
