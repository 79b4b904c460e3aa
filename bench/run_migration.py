#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Workload migration benchmark: downtime and working-set transfer time.

    bench/run_migration.py [BUILD_DIR] [--size 256M] [--runs 3] [--json FILE]

For each run, and with the hot-list prefetch on and off (--prefetch):
  1. a fresh cluster: its own etcd (loopback ports, own data dir), two
     dsm-dataplanes (nodes 1 and 2) joined to it, each with a control socket
     and the workload supervisor;
  2. `dsmctl run --node 1` starts examples/dsm-walker, which creates a
     segment of --size homed on node 1 and writes every page once per pass;
     the benchmark waits until its first full pass is done (the working set
     is then all on node 1);
  3. `dsmctl --json migrate --to 2`: the walker is stopped at a safe point,
     node 1 writes the hot list (the pages it held), node 2 starts the next
     generation with DSM_RESUME=1 and the hot list, and the pages follow it
     (post-copy: on demand, plus the prefetch of the hot list);
  4. it reads, from the workload's status in etcd and dsmctl's answer:
       downtime   = the new process's start - the old one's exit;
       ws         = from the new start until node 2 holds every hot page;
     and from the walker's own log: the time from its start to the end of
     its first pass over every page (after the resume it first finishes
     the pass it was stopped in): when it runs at full speed again;
  5. `dsmctl stop` (the walker leaves at its next safe point), then
     `dsm-walker --verify` on node 2 checks that every page holds exactly
     what the walker's state says (no page lost or stale across the move).
Prints one line per run and the p50 over the runs per mode (and writes
JSON with --json).  A benchmark: it asserts nothing about speed, but fails
(exit 1) if a migration fails or a verify finds a wrong page.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
from dsmcluster import Cluster, ClusterError, Etcd, parse_json_lines  # noqa: E402

NAME = "walker"


class Run:
    """One cluster, one walker, one migration from node 1 to node 2."""

    def __init__(self, build, size, prefetch, timeout, keep=False):
        self.build = os.path.abspath(build)
        self.keep = keep
        self.size = size
        self.prefetch = prefetch
        self.timeout = timeout
        self.walker = os.path.join(self.build, "examples/dsm-walker")

    def status(self, c, etcd):
        prefix = "/dsm/%s/workloads/%s/" % (c.cluster["name"], NAME)
        return etcd.get_prefix(prefix).get(prefix + "status", {})

    def verify(self, c, node):
        r = subprocess.run([self.walker, "--socket", c.socket_path(node), "--seg", NAME,
                            "--verify"], capture_output=True, text=True,
                           timeout=self.timeout + 30)
        ev = [e for e in parse_json_lines(r.stdout) if e.get("event") == "verify"]
        return r.returncode == 0 and bool(ev) and ev[0].get("ok"), (ev[0] if ev else r.stderr)

    def execute(self):
        with Cluster(self.build, ndataplanes=2, clients=(), sockets=True, tag="migbench",
                     cluster={"lease_ttl_s": 2}, keep=self.keep) as c:
            if self.keep:
                print("cluster directory (kept): %s" % c.workdir)
            etcd = Etcd(c.workdir).start()
            try:
                c.cluster["etcd"] = etcd.url
                c.start_dataplanes()
                return self.measure(c, etcd)
            finally:
                etcd.stop()

    def measure(self, c, etcd):
        env = [] if self.prefetch else ["--env", "DSM_HOTLIST_MODE=off"]
        c.dsmctl(["run", "--node", "1", "--name", NAME] + env +
                 ["--", self.walker, "--seg", NAME, "--size", self.size,
                  "--report-ms", "200"], self.timeout)
        c.wait_workload_event(NAME, 1, "pass", self.timeout)
        out = c.dsmctl(["--json", "migrate", NAME, "--to", "2"], self.timeout)
        mig = parse_json_lines(out)
        mig = mig[-1] if mig else {}
        st = self.status(c, etcd)
        start = c.wait_workload_event(NAME, 2, "start", self.timeout)
        first = c.wait_workload_event(NAME, 2, "full_pass", self.timeout)
        # A stop for good is SIGTERM: the walker leaves at its next safe
        # point; verify once it has (its "stop" line), not before.
        c.dsmctl(["stop", NAME], self.timeout)
        c.wait_workload_event(NAME, 2, "stop", self.timeout)
        ok, detail = self.verify(c, 2)
        if not ok:
            raise ClusterError("verify after the migration failed: %s" % (detail,))
        ws_ms = (int(st["ws_done_ms"]) - int(st["start_ms"])) if st.get("ws_done_ms") else None
        return {
            "prefetch": self.prefetch,
            "downtime_ms": int(st.get("downtime_ms", mig.get("downtime_ms", -1))),
            "ws_ms": ws_ms if ws_ms is not None else mig.get("ws_ms"),
            "ws_pages": int(st.get("ws_pages", 0)),
            "ws_moved": int(st.get("ws_moved", 0)),
            "full_pass_ms": first.get("elapsed_ms"),
            "resumed": start.get("resumed"),
            "dsmctl": mig,
            "verify": detail,
        }


def p50(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit="ms"):
    return "-" if v is None else "%.0f %s" % (v, unit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--size", default="256M", help="working set (segment size)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefetch", choices=["on", "off", "both"], default="both")
    ap.add_argument("--timeout", type=int, default=120, help="bound of every wait, s")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep each cluster's directory")
    a = ap.parse_args()
    modes = {"on": [True], "off": [False], "both": [True, False]}[a.prefetch]
    results = []
    print("migration of a %s working set (dsm-walker), node 1 -> node 2, %d runs"
          % (a.size, a.runs))
    print("%-4s %-9s %10s %12s %14s %10s" % ("run", "prefetch", "downtime", "ws arrival",
                                            "full pass", "ws pages"))
    for prefetch in modes:
        for i in range(a.runs):
            r = Run(a.build, a.size, prefetch, a.timeout, a.keep).execute()
            results.append(r)
            print("%-4d %-9s %10s %12s %14s %10d" % (
                i + 1, "on" if prefetch else "off", fmt(r["downtime_ms"]), fmt(r["ws_ms"]),
                fmt(r["full_pass_ms"]), r["ws_pages"]))
            sys.stdout.flush()
    summary = {}
    for prefetch in modes:
        rs = [r for r in results if r["prefetch"] == prefetch]
        key = "prefetch_on" if prefetch else "prefetch_off"
        summary[key] = {k: p50([r[k] for r in rs])
                        for k in ("downtime_ms", "ws_ms", "full_pass_ms")}
        print("p50  %-9s %10s %12s %14s" % ("on" if prefetch else "off",
                                            fmt(summary[key]["downtime_ms"]),
                                            fmt(summary[key]["ws_ms"]),
                                            fmt(summary[key]["full_pass_ms"])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"size": a.size, "runs": results, "p50": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ClusterError, subprocess.TimeoutExpired) as e:
        print("run_migration: FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
