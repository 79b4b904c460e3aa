#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Fault latency as the application sees it: dsm over memif next to a bare
local userfaultfd round trip and a naive userfaultfd + TCP page server, in
the same run (bench/faultlat/dsm-faultlat).

    python3 bench/run_faultlat.py BUILD [--samples N] [--json FILE] [--pin F,H,S]

Brings up two dsm-dataplanes linked by memif (node 2 is the home of segment
'lat'), writes the pattern into every page through node 2, and measures read
and write faults of an application attached on node 1: each one fetches the
page (and, for a write, ownership) from node 2 over the wire.  Prints the
table of dsm-faultlat; exits non-zero if anything failed.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
from dsmcluster import Cluster  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--pin", default=None, help="faulter,handler,server CPUs")
    ap.add_argument("--json", default=None, help="also write dsm-faultlat's JSON line here")
    a = ap.parse_args()
    # Every sample takes a fresh page, for reads and writes, after warm-up.
    pages = 2 * (a.samples + 500) + 64
    segs = [(1, "lat", "%dK" % (pages * 4), 2)]
    with Cluster(a.build, ndataplanes=2, clients=(), segments=segs, sockets=True,
                 tag="dsmlat", tuning={"request_timeout_ms": 2000,
                                       "home_timeout_ms": 1000}) as c:
        c.start_dataplanes()
        base = [os.path.join(os.path.abspath(a.build), "bench/faultlat/dsm-faultlat"),
                "--rows", "all", "--samples", str(a.samples),
                "--dsm-socket", c.socket_path(1), "--segment", "lat",
                "--dsm-fill-socket", c.socket_path(2)] + (["--pin", a.pin] if a.pin else [])
        r = subprocess.run(base, timeout=900)
        if r.returncode:
            return r.returncode
        if a.json:
            j = subprocess.run(base + ["--json"], timeout=900, capture_output=True, text=True)
            with open(a.json, "w") as f:
                f.write(j.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
