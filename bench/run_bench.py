#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Page-serving benchmark over memif, with the link's limit side by side.

    bench/run_bench.py BUILD_DIR [--seconds S] [--pages N] [--json FILE]

For each MTU (1500: a 4 KiB page is 3 frames; >= 4212: one 4226-byte frame,
where the port allows it - memif in DPDK 22.11 does not):
  1. one dsm-dataplane (node 1, one lcore, busy-polling on CPU 1) homes a
     segment; a writer node fills every page with tagged data and stays up;
  2. dsm-loadgen --workload raw (CPU 0, busy-polling) keeps 32 page reads in
     flight for S seconds: pages served per second by the dataplane's lcore,
     every payload checked;
  3. the same with one read in flight: read-request latency p50/p99;
  4. dpdk-testpmd txonly (CPU 0) -> dpdk-testpmd io forwarding (CPU 1) over
     a memif link, frames of the page frames' size: the link's frame rate.
Prints a table (and writes JSON with --json).  A benchmark, not a test: it
asserts nothing about speed.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
from dsmcluster import Cluster, parse_json_lines  # noqa: E402

PAGE = 4096
OVERHEAD = 14 + 20 + 8 + 88


def frames_per_page(mtu):
    payload = min(mtu - 20 - 8 - 88, PAGE)
    return -(-PAGE // payload), payload + OVERHEAD


def run_dsm(build, mtu, seconds, pages):
    npages = pages
    segs = [(1, "bench", "%dK" % (npages * 4), 1)]
    out = {}
    with Cluster(build, ndataplanes=1, clients=(11, 12), segments=segs, mtu=mtu,
                 idle="poll", tag="dsmbench", dataplane_lcores={1: "0@1"}) as c:
        c.start_dataplanes()
        fill = c.start_client(11, ["-w", "rw", "-s", "1", "-n", str(npages), "-W", "100",
                                   "-Q", "-q", "8", "-L", "-i", "sleep"],
                              name="fill", lcores="0@0")
        fill.wait_for("workload done", 120)
        # Warm-up pass: every page's data comes home from the writer once.
        rc, o, e = c.run_client(12, ["-w", "raw", "-s", "1", "-n", str(npages), "-q", "8",
                                     "-i", "poll", "-j"], lcores="0@0")
        if rc:
            raise RuntimeError("warm-up failed: %s %s" % (o[-1500:], e[-1500:]))
        # Throughput: contents verified on every 64th page so the generator
        # is not the bottleneck; latency: every page verified.
        for name, depth, secs, every in (("throughput", 32, seconds, 64),
                                         ("latency", 1, seconds, 1)):
            rc, o, e = c.run_client(12, ["-w", "raw", "-s", "1", "-d", str(secs), "-q",
                                         str(depth), "-C", str(every), "-i", "poll", "-j"],
                                    lcores="0@0",
                                    timeout=120 + secs)
            j = parse_json_lines(o)
            if rc or not j:
                raise RuntimeError("%s run failed: %s %s" % (name, o[-1500:], e[-1500:]))
            out[name] = j[-1]
        out["stats"] = c.telemetry(1, "/dsm/stats")
    return out


def testpmd_rate(mtu, frame, seconds):
    """Frames/s that testpmd io-forwards over a memif link (receiver side)."""
    work = tempfile.mkdtemp(prefix="dsmtp-")
    sock = os.path.join(work, "tp.sock")
    common = ["--no-pci", "--huge-unlink", "--log-level", "pmd.net.memif:crit"]
    pmd = ["--", "--no-mlockall", "--auto-start", "--stats-period", "1",
           "--mbuf-size", "4608", "--total-num-mbufs", "8192",
           "--max-pkt-len", str(max(frame, 1518)), "--burst", "32"]
    rx_argv = ["dpdk-testpmd", "--lcores", "0@1,1@1", "--file-prefix", "tprx%d" % os.getpid(),
               "--vdev", "net_memif0,role=server,id=0,socket=%s,socket-abstract=no" % sock] + \
        common + pmd + ["--forward-mode", os.environ.get("DSM_TP_MODE", "io")]
    tx_argv = ["dpdk-testpmd", "--lcores", "0@0,1@0", "--file-prefix", "tptx%d" % os.getpid(),
               "--vdev", "net_memif0,role=client,id=0,socket=%s,socket-abstract=no" % sock] + \
        common + pmd + ["--forward-mode", "txonly", "--txpkts", str(frame)]
    logs = [open(os.path.join(work, n), "w+") for n in ("rx.log", "tx.log")]
    rx = subprocess.Popen(rx_argv, stdout=logs[0], stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(sock) and time.monotonic() < deadline and rx.poll() is None:
        time.sleep(0.05)
    tx = subprocess.Popen(tx_argv, stdout=logs[1], stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    time.sleep(seconds + 2)   # a measurement window, not synchronisation
    for p in (tx, rx):
        p.send_signal(signal.SIGINT)
    for p in (tx, rx):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    logs[0].seek(0)
    text = logs[0].read()
    for f in logs:
        f.close()
    rates = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)]
    rates = [r for r in rates if r > 0]
    if not rates:
        raise RuntimeError("testpmd measured nothing (MTU %d):\n%s" % (mtu, text[-2000:]))
    rates.sort()
    return rates[len(rates) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pages", type=int, default=1024)
    ap.add_argument("--json")
    ap.add_argument("--mtu", type=int, action="append",
                    help="IP MTU to measure (repeatable; default 1500). DPDK 22.11's "
                         "memif caps the MTU at 1500, so jumbo frames need another port")
    a = ap.parse_args()
    a.mtu = a.mtu or [1500]
    results = []
    for mtu in a.mtu:
        fpp, frame = frames_per_page(mtu)
        dsm = run_dsm(a.build, mtu, a.seconds, a.pages)
        link = testpmd_rate(mtu, frame, a.seconds)
        results.append({"mtu": mtu, "frames_per_page": fpp, "frame_bytes": frame,
                        "pages_per_s": dsm["throughput"]["ops_per_s"],
                        "tput_p50_ns": dsm["throughput"]["p50_ns"],
                        "tput_p99_ns": dsm["throughput"]["p99_ns"],
                        "lat_p50_ns": dsm["latency"]["p50_ns"],
                        "lat_p99_ns": dsm["latency"]["p99_ns"],
                        "check_failures": dsm["throughput"]["check_failures"] +
                        dsm["latency"]["check_failures"],
                        "retx": dsm["stats"]["chan_retx_frames"],
                        "testpmd_fps": link, "testpmd_pages_per_s": link / fpp})
    print("\n4 KiB pages over memif, one dataplane lcore (busy-poll, CPU 1), "
          "load generator on CPU 0")
    print("%5s %6s %7s | %12s %9s %9s | %10s %10s | %12s %14s %6s" % (
        "MTU", "frames", "bytes", "pages/s/lcore", "p50 us", "p99 us", "qd1 p50", "qd1 p99",
        "testpmd fps", "= pages/s", "ratio"))
    for r in results:
        print("%5d %6d %7d | %12.0f %9.1f %9.1f | %10.1f %10.1f | %12d %14.0f %5.0f%%" % (
            r["mtu"], r["frames_per_page"], r["frame_bytes"], r["pages_per_s"],
            r["tput_p50_ns"] / 1e3, r["tput_p99_ns"] / 1e3, r["lat_p50_ns"] / 1e3,
            r["lat_p99_ns"] / 1e3, r["testpmd_fps"], r["testpmd_pages_per_s"],
            100.0 * r["pages_per_s"] / r["testpmd_pages_per_s"]))
    print("(pages/s: 32 reads in flight; qd1: one read in flight, read-request latency; "
          "testpmd: txonly -> io forward of same-size frames on the same CPUs; "
          "check failures: %d)" % sum(r["check_failures"] for r in results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
