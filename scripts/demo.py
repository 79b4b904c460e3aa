#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The main job: a small cluster on this machine serving a real workload.

Three dsm-dataplane nodes (ids 1-3) in a full mesh of memif links, each the
home of one segment.  Two writer nodes (11, 12) increment the same pages of
all three segments while a reader (13) reads them; then node 14 reads every
page and checks that the page counters add up to the writes made - no lost
write, no stale read, every byte of every page intact.

    scripts/demo.py BUILD_DIR [--seconds S] [--pages N]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dsmcluster import Cluster, ClusterError, parse_json_lines  # noqa: E402


def summary(proc):
    objs = parse_json_lines(proc.output())
    return objs[-1] if objs else None


def fmt_us(ns):
    return "%.0f" % (ns / 1000.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pages", type=int, default=16,
                    help="pages used in each segment (at most 16: 'pingpong' is 64 KiB)")
    a = ap.parse_args()

    print("dsm demo: 3 dataplanes (nodes 1-3) in a memif mesh; writers 11 and 12, "
          "reader 13, verifier 14")
    print("workload: %.0f s of coherent reads/writes on %d pages (4 KiB) of each of the "
          "segments 'kv', 'array', 'pingpong', homed at nodes 1, 2, 3\n" % (a.seconds, a.pages))
    ok = True
    with Cluster(a.build, tag="dsmdemo", clients=(11, 12, 13, 14)) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "all", "-p", "0:%d" % a.pages, "-q", "4", "-j",
                "-d", str(a.seconds), "-L"]
        roles = {11: ("writer", "100"), 12: ("writer", "100"), 13: ("reader", "0")}
        procs = {n: c.start_client(n, args + ["-W", w], name="client%d" % n)
                 for n, (_, w) in roles.items()}
        for p in procs.values():
            p.wait_for("workload done", 120 + a.seconds)
        res = {n: summary(p) for n, p in procs.items()}
        writes = sum(r["writes"] for r in res.values())
        rc, out, err = c.run_client(14, ["-w", "rw", "-s", "all", "-p", "0:%d" % a.pages,
                                         "-n", "1", "-W", "0", "-V", str(writes), "-j"])
        verified = rc == 0
        stats = {d: c.telemetry(d, "/dsm/stats") for d in c.dataplanes}
        for n, p in procs.items():
            if p.stop() != 0:
                ok = False
                print("client %d exited with an error:\n%s" % (n, p.errors()[-1500:]))

    print("%-7s %-7s %8s %9s %8s %8s %8s %8s %7s" % (
        "client", "role", "ops", "ops/s", "remote", "local", "p50 us", "p99 us", "errors"))
    for n, r in sorted(res.items()):
        print("%-7d %-7s %8d %9.0f %8d %8d %8s %8s %7d" % (
            n, roles[n][0], r["ops"], r["ops_per_s"], r["remote"], r["local"],
            fmt_us(r["p50_ns"]), fmt_us(r["p99_ns"]), r["errors"] + r["check_failures"]))
        ok = ok and r["errors"] == 0 and r["check_failures"] == 0
    print("%-7d %-7s reads all %d pages: counters add up to %d = the writes of 11 and 12: %s\n"
          % (14, "verify", 3 * a.pages, writes, "OK" if verified else "FAILED"))
    if not verified:
        print(out[-1500:], err[-1500:])

    print("%-9s %7s %7s %6s %7s %7s %7s %7s %7s" % (
        "dataplane", "grants", "data", "zero", "inval", "downgr", "wrback", "retx", "drops"))
    pages_moved = 0
    for d, st in sorted(stats.items()):
        data = st["grants_tx"] - st["zero_grants"] - st["nodata_grants"]
        pages_moved += data + st["writebacks"]
        print("%-9d %7d %7d %6d %7d %7d %7d %7d %7d" % (
            d, st["grants_tx"], data, st["zero_grants"], st["invalidations_tx"],
            st["downgrades_tx"], st["writebacks"], st["chan_retx_frames"], st["drops"]))
    print("\npage data moved through the homes: %d pages = %.1f MiB "
          "(grants with data + owner write-backs)" % (pages_moved, pages_moved * 4096 / 2**20))
    ok = ok and verified
    print("result: %s" % ("PASS - no lost write, no stale read, every page intact" if ok
                          else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClusterError as e:
        print("demo failed: %s" % e, file=sys.stderr)
        sys.exit(1)
