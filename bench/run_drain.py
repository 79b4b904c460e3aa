#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Drain benchmark: copying a node's pages off it, then its leave.

    bench/run_drain.py [BUILD_DIR] [--size 256M] [--timeout 300]

  1. a fresh cluster: its own etcd, three dsm-dataplanes joined to it, each
     with a control socket;
  2. examples/dsm-walker runs one pass on node 1: it creates a segment of
     --size homed there and writes every page, so every page is on node 1
     only (the other nodes have not even heard of the segment);
  3. `dsmctl --json drain 1`: node 2, the heir of node 1's segments, learns
     them (discovery) and copies every page it does not hold
     (dataplane/runtime/evacuate.c);
  4. node 1 is stopped: node 2 adopts the segment and recovers every page
     from its copies (re-homing); timed from the stop until node 2 has
     accounted for every page;
  5. `dsm-walker --verify` on node 2: every page holds what the walker's
     state says, so nothing was lost.
Prints the copy (pages, time, pages/s, MiB/s), the time to recover every
page after the leave, and the pages lost (0 expected).  It asserts
nothing about speed; it fails (exit 1) if a step fails, a page is lost or
the verify finds a wrong page.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
from dsmcluster import Cluster, ClusterError, Etcd, parse_json_lines, wait_until  # noqa: E402

NAME = "walker"


def walker(c, build, node, args, timeout):
    r = subprocess.run([os.path.join(build, "examples/dsm-walker"), "--socket",
                        c.socket_path(node), "--seg", NAME] + args,
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise ClusterError("dsm-walker %s on node %d: exit %d\n%s" % (
            " ".join(args), node, r.returncode, r.stderr[-1000:]))
    return parse_json_lines(r.stdout)


def measure(c, build, size, timeout):
    walker(c, build, 1, ["--size", size, "--passes", "1"], timeout)
    t0 = time.monotonic()
    out = parse_json_lines(c.dsmctl(["--json", "drain", "1"], timeout))[-1]
    drain_ms = (time.monotonic() - t0) * 1000
    pages = out["pages"]
    # What node 2 adopts when node 1 leaves: every segment homed there.
    npages = sum(s["pages"] for s in c.telemetry(2, "/dsm/segments").values()
                 if s["home"] == 1)
    st0 = c.telemetry(2, "/dsm/stats")
    t1 = time.monotonic()
    c.procs["dp1"].stop()
    def accounted():
        s = c.telemetry(2, "/dsm/stats")
        done = s["pages_recovered"] - st0["pages_recovered"] + s["pages_lost"] - st0["pages_lost"]
        return s if done >= npages else None

    st = wait_until(accounted, timeout, "node 2 to account for every page")
    leave_ms = (time.monotonic() - t1) * 1000
    ev = [e for e in walker(c, build, 2, ["--verify"], timeout) if e.get("event") == "verify"]
    return {"drain_ms": drain_ms, "pages": npages, "copied": pages["copied"],
            "failed": pages["failed"], "leave_ms": leave_ms,
            "recovered": st["pages_recovered"] - st0["pages_recovered"],
            "lost": st["pages_lost"] - st0["pages_lost"],
            "verify": bool(ev and ev[0].get("ok")), "verify_detail": ev[0] if ev else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--size", default="256M", help="the walker's segment")
    ap.add_argument("--timeout", type=int, default=300, help="bound of every wait, s")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    with Cluster(build, ndataplanes=3, clients=(), sockets=True, tag="drainbench",
                 cluster={"lease_ttl_s": 2, "workloads": False}) as c:
        etcd = Etcd(c.workdir).start()
        try:
            c.cluster["etcd"] = etcd.url
            c.start_dataplanes()
            r = measure(c, build, a.size, a.timeout)
        finally:
            etcd.stop()
    print("drain of node 1 (dsm-walker's %s segment homed there, %d pages in all):" % (
        a.size, r["pages"]))
    print("  dsmctl drain 1: %d pages copied to node 2 in %.0f ms = %.0f pages/s "
          "(%.0f MiB/s), %d failed" % (
              r["copied"], r["drain_ms"], r["copied"] / max(r["drain_ms"], 1) * 1000,
              r["copied"] * 4096 / 1048576 / max(r["drain_ms"], 1) * 1000, r["failed"]))
    print("  node 1 stopped: node 2 accounted for every page in %.0f ms: %d recovered, "
          "%d lost" % (r["leave_ms"], r["recovered"], r["lost"]))
    print("  walker verify on node 2: %s" % ("ok" if r["verify"] else
                                             "FAILED %s" % (r["verify_detail"],)))
    return 0 if r["verify"] and r["lost"] == 0 and r["failed"] == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ClusterError, subprocess.TimeoutExpired) as e:
        print("run_drain: FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
