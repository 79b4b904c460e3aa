#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Failure-detection time: how long after a dsm-dataplane is killed with
SIGKILL the survivors apply a view without it.

    bench/run_failover.py BUILD_DIR [--runs N] [--ttl SECONDS]

Three dataplanes in a memif mesh join through a real etcd (started here);
node 3 is killed, nodes 1 and 2 are polled (telemetry /dsm/membership)
until both have applied the new epoch, node 3 is started again and rejoins,
and the whole is repeated.  Detection is bounded by the lease: TTL until
etcd expires it, plus the watch round trip and the CAS of the new epoch.
"""
import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
from dsmcluster import Cluster, Etcd  # noqa: E402


def wait_view(c, members, nodes, newer_than, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = [c.telemetry(n, "/dsm/membership") for n in nodes]
        if all(v["members"] == members and v["epoch"] > newer_than for v in views):
            return max(v["epoch"] for v in views)
        time.sleep(0.005)
    raise RuntimeError("no view %s on %s within %d s" % (members, nodes, timeout))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ttl", type=int, default=2)
    a = ap.parse_args()
    c = Cluster(a.build, tag="dsmfo", clients=(), sockets=True)
    etcd = Etcd(c.workdir)
    times = []
    try:
        etcd.start()
        c.cluster = {"name": c.uniq, "etcd": etcd.url, "lease_ttl_s": a.ttl,
                     "workloads": False, "state_dir": os.path.join(c.workdir, "state")}
        c.start_dataplanes()
        epoch = wait_view(c, [1, 2, 3], (1, 2, 3), 0, 30)
        for run in range(a.runs):
            t0 = time.monotonic()
            c.procs["dp3"].popen.send_signal(signal.SIGKILL)
            c.procs["dp3"].popen.wait(10)
            epoch = wait_view(c, [1, 2], (1, 2), epoch, 4 * a.ttl)
            times.append(time.monotonic() - t0)
            print("run %d: written off in %.3f s (epoch %d)" % (run + 1, times[-1], epoch))
            c.start_dataplanes(only=[3])
            epoch = wait_view(c, [1, 2, 3], (1, 2, 3), epoch, 30)
    finally:
        c.cleanup()
        etcd.stop()
    print("failure detection after SIGKILL, lease TTL %d s, %d runs: p50 %.3f s, min %.3f s, "
          "max %.3f s (bound 2 x TTL = %d s)" % (a.ttl, len(times), statistics.median(times),
                                                min(times), max(times), 2 * a.ttl))
    return 0 if max(times) <= 2 * a.ttl else 1


if __name__ == "__main__":
    sys.exit(main())
