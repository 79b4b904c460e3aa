#!/usr/bin/env bash
# Install what is missing, reserve hugepages, build.  Idempotent: running it
# twice changes nothing the second time.  Needs root (apt, sysfs, mount).
#
#   scripts/setup.sh            install + hugepages + build into ./build
#   DSM_HUGEPAGES=N             number of 2 MiB pages to reserve (default 1024)
#   DSM_BUILD_DIR=DIR           build directory (default ./build)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${DSM_BUILD_DIR:-$top/build}
hugepages=${DSM_HUGEPAGES:-1024}

# Debian packages the project needs, by purpose.
packages=(
	# toolchain and build
	gcc libc6-dev make meson ninja-build pkg-config python3 valgrind
	# DPDK: libraries, PMDs (memif, ring, null, pcap), testpmd/dumpcap/telemetry tools
	dpdk dpdk-dev libdpdk-dev
	# test hosts: network namespaces and veth pairs (jumbo-frame test)
	iproute2
	# NUMA placement, hugepages
	libnuma-dev libhugetlbfs-bin
	# config (YAML), JSON, unit tests
	libyaml-dev libjansson-dev libcunit1-dev
	# control plane: etcd (membership, epochs) and its JSON gateway client
	etcd-server libcurl4-openssl-dev
	# kernel module: Debian's kernel and its headers (dsm.ko is built
	# against them and tested in a qemu guest booting that kernel; the
	# host kernel need not load modules), busybox + cpio for the initramfs
	linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio kmod
)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
	echo "setup: must run as root (apt-get, hugepages, mount)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	log "all packages present"
fi

# Hugepages: reserve at least $hugepages 2 MiB pages and mount hugetlbfs.
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ "$(cat "$nr")" -lt "$hugepages" ]; then
	echo "$hugepages" > "$nr"
	log "reserved $(cat "$nr") x 2 MiB hugepages"
fi
if [ "$(cat "$nr")" -lt "$hugepages" ]; then
	echo "setup: could only reserve $(cat "$nr") of $hugepages hugepages" >&2
	exit 1
fi
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages

# Build.
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" >/dev/null
log "built into $build"
