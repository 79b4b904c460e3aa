#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The main job: a small cluster on this machine serving a real workload.

Three dsm-dataplane nodes (ids 1-3) in a full mesh of memif links.  On each
node an application (examples/dsm-kv, through libdsm and the userfaultfd
front end) updates and reads a shared key-value table homed at node 1: its
own keys and a contended shared range.  Every read is checked as it happens
(well-formed, never going back); at the end rank 0 replays every rank's
operations and checks that each key holds its last write - no lost write,
no stale read.  Then the figures: operations/s, faults (remote and local),
fault service time, protocol traffic and page data moved.

    scripts/demo.py BUILD_DIR [--seconds S] [--write-pct P]
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dsmcluster import Cluster, ClusterError, Proc, free_ports  # noqa: E402

SEGMENTS = [(1, "kv", "1M", 1)]


def us(ns):
    return "%.0f" % (ns / 1000.0)


def start_rank(c, node, rank, a):
    argv = [os.path.join(os.path.abspath(a.build), "examples/dsm-kv"),
            "--socket", c.socket_path(node), "--segment", "kv", "--rank", str(rank),
            "--nodes", "3", "--seconds", str(a.seconds), "--write-pct", str(a.write_pct),
            "--json"]
    return Proc("kv%d" % node, argv, c.workdir, None)


def result(p, timeout):
    rc = p.wait(timeout)
    lines = [l for l in p.output().splitlines() if l.startswith("{")]
    r = json.loads(lines[-1]) if lines else None
    return rc, r


def print_apps(res):
    print("%-5s %-5s %9s %9s %8s %8s %10s %10s %10s %10s" % (
        "node", "rank", "ops", "ops/s", "reads", "writes", "read p50", "read p99",
        "write p50", "write p99"))
    for node, (rc, r) in sorted(res.items()):
        if not r:
            print("%-5d  (no result, exit %s)" % (node, rc))
            continue
        print("%-5d %-5d %9d %9.0f %8d %8d %9sus %9sus %9sus %9sus" % (
            node, r["rank"], r["ops"], r["ops_per_s"], r["reads"], r["writes"],
            us(r["read_ns"]["p50"]), us(r["read_ns"]["p99"]),
            us(r["write_ns"]["p50"]), us(r["write_ns"]["p99"])))


def print_nodes(stats):
    print("%-5s %8s %8s %8s %11s %11s %7s %7s %7s %7s" % (
        "node", "faults", "remote", "minor", "remote p50", "remote p99", "grants",
        "inval", "downgr", "wrback"))
    for d, st in sorted(stats.items()):
        print("%-5d %8d %8d %8d %10sus %10sus %7d %7d %7d %7d" % (
            d, st["uffd_faults"], st["uffd_remote_faults"], st["uffd_faults_minor"],
            us(st["uffd_remote_p50_ns"]), us(st["uffd_remote_p99_ns"]), st["grants_tx"],
            st["invalidations_tx"], st["downgrades_tx"], st["writebacks"]))


def pages_moved(stats):
    moved = 0
    for st in stats.values():
        moved += st["grants_tx"] - st["zero_grants"] - st["nodata_grants"] + st["writebacks"]
    return moved


def print_membership(c):
    """Wait until the three nodes agree on one view, then say what it is."""
    deadline = time.monotonic() + 30
    while True:
        views = {d: c.telemetry(d, "/dsm/membership") for d in c.dataplanes}
        if len({(v["epoch"], tuple(v["members"])) for v in views.values()}) == 1 and \
                views[1]["members"] == c.dataplanes:
            break
        if time.monotonic() > deadline:
            raise ClusterError("the nodes did not agree on a view: %s" % views)
        time.sleep(0.05)
    owner = [d for d, v in views.items() if v["own_etcd"]]
    print("membership: epoch %d, members %s, through the embedded etcd at %s (started by "
          "node %s)\n" % (views[1]["epoch"], views[1]["members"], views[1]["etcd"],
                         owner[0] if owner else "?"))


def migrate_walker(c, build):
    """The control plane: dsmctl starts examples/dsm-walker (16 MiB working
    set, state kept in its segment) on node 1, migrates it to node 2 while it
    runs, stops it, and the segment is checked page by page."""
    walker = os.path.join(os.path.abspath(build), "examples/dsm-walker")
    print("\ncontrol plane: the nodes as etcd and their telemetry see them, then a "
          "workload moved\nfrom node 1 to node 2 while it runs (its pages follow it on "
          "demand, plus a prefetch\nof the pages it held)")
    print("\n$ dsmctl nodes\n" + c.dsmctl(["nodes"]).rstrip())
    c.dsmctl(["run", "--node", "1", "--name", "walker", "--", walker, "--seg",
                      "walker", "--size", "16M", "--report-ms", "200"])
    c.wait_workload_event("walker", 1, "full_pass")
    print("\n$ dsmctl migrate walker --to 2\n" +
          c.dsmctl(["migrate", "walker", "--to", "2"]).rstrip())
    c.wait_workload_event("walker", 2, "full_pass")
    c.dsmctl(["stop", "walker"])
    c.wait_workload_event("walker", 2, "stop")
    r = subprocess.run([walker, "--socket", c.socket_path(3), "--seg", "walker", "--verify"],
                       capture_output=True, text=True, timeout=90)
    ok = r.returncode == 0 and '"ok":true' in r.stdout
    print("every page of the walker's segment checked from node 3 after the move: %s" % (
        "OK" if ok else "FAILED\n" + r.stdout + r.stderr))
    return ok


def report(res, stats):
    print_apps(res)
    ok = all(rc == 0 and r and r.get("ok") for rc, r in res.values())
    r0 = res[1][1] or {}
    print("\nrank 0 checked all %s keys hold their last write (replaying every rank): %s; "
          "cluster %.0f ops/s\n" % (r0.get("keys_verified", "?"), "OK" if ok else "FAILED",
                                    r0.get("cluster_ops_per_s", 0)))
    print("application faults served by each dataplane (remote: needed the network; "
          "service time from fault to mapped):")
    print_nodes(stats)
    moved = pages_moved(stats)
    print("\npage data moved between nodes: %d pages = %.1f MiB (grants with data + owner "
          "write-backs)" % (moved, moved * 4096 / 2**20))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--write-pct", type=int, default=20)
    a = ap.parse_args()
    print("dsm demo: 3 dataplanes (nodes 1-3) in a memif mesh; on each node an application "
          "(dsm-kv)\nupdates and reads a shared key-value table (segment 'kv', homed at "
          "node 1) for %.0f s, %d%% writes\n" % (a.seconds, a.write_pct))
    # Membership through the embedded etcd, which the first node starts (on a
    # free port, so that demos and tests can run side by side).
    with Cluster(a.build, tag="dsmdemo", clients=(), segments=SEGMENTS, sockets=True,
                 tuning={"request_timeout_ms": 2000, "home_timeout_ms": 1000},
                 cluster={"etcd_port": free_ports(1)[0], "lease_ttl_s": 3}) as c:
        c.start_dataplanes()
        print_membership(c)
        procs = {n: start_rank(c, n, n - 1, a) for n in (1, 2, 3)}
        res = {n: result(p, 120 + 3 * a.seconds) for n, p in procs.items()}
        stats = {d: c.telemetry(d, "/dsm/stats") for d in c.dataplanes}
        report(res, stats)
        migrated = migrate_walker(c, a.build)
    ok = all(rc == 0 and r and r.get("ok") for rc, r in res.values())
    sigbus = sum(st["uffd_sigbus"] for st in stats.values())
    ok = ok and sigbus == 0 and migrated
    print("\nresult: %s" % ("PASS - every read checked, every key holds its last write, "
                            "no lost write, the migrated workload's pages all correct"
                            if ok else "FAIL (%d SIGBUS)" % sigbus))
    if not ok:
        for n, p in procs.items():
            print("--- node %d application:\n%s%s" % (n, p.output()[-1500:], p.errors()[-1500:]))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClusterError as e:
        print("demo failed: %s" % e, file=sys.stderr)
        sys.exit(1)
