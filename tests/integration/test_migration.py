#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""End-to-end workload migration: dsm-dataplanes with the workload
supervisor, a real etcd, `dsmctl`, and examples/dsm-walker (a workload that
keeps its state in a DSM segment and reaches safe points).

    tests/integration/test_migration.py BUILD_DIR [test-name ...]
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from dsmcluster import Cluster, Etcd, Proc, parse_json_lines  # noqa: E402
from harness import check, run_tests  # noqa: E402

BUILD = None
NAME = "walker"
TIMEOUT = 60


def test_migrate_twice_while_another_node_reads():
    """dsm-walker starts on node 1 (its segment homed there), is migrated to
    node 2 and back to node 1 with `dsmctl migrate` while a reader on node 3
    checks that no page ever goes back; each move stops it at a safe point
    and resumes it from its segment; at the end every page holds exactly
    what the walker's own state says."""
    c = Cluster(BUILD, tag="dsmmig", clients=(), sockets=True,
                tuning={"request_timeout_ms": 5000, "home_timeout_ms": 2000})
    etcd = Etcd(c.workdir)
    walker = os.path.join(BUILD, "examples/dsm-walker")
    try:
        etcd.start()
        c.cluster = {"name": c.uniq, "etcd": etcd.url, "lease_ttl_s": 3,
                     "state_dir": os.path.join(c.workdir, "state")}
        c.start_dataplanes()
        c.dsmctl(["run", "--node", "1", "--name", NAME, "--", walker,
                         "--seg", NAME, "--size", "4M", "--report-ms", "100"])
        c.wait_workload_event(NAME, 1, "full_pass")
        reader = Proc("reader", [walker, "--socket", c.socket_path(3), "--seg", NAME,
                                 "--reader"], c.workdir, None)
        c.procs["reader"] = reader
        reader.wait_for('"mode":"reader"', TIMEOUT)
        moves = []
        for gen, target in ((2, 2), (3, 1)):
            out = c.dsmctl(["--json", "migrate", NAME, "--to", str(target)])
            moves.append(json.loads(out.strip().splitlines()[-1]))
            start = c.wait_workload_event(NAME, gen, "start")
            check(start.get("resumed") in (True, 1), "gen %d not resumed: %s" % (gen, start))
            c.wait_workload_event(NAME, gen, "full_pass")
            stop = c.wait_workload_event(NAME, gen - 1, "stop")
            check(stop.get("migrating") in (True, 1), "gen %d stop: %s" % (gen - 1, stop))
        c.dsmctl(["stop", NAME])
        c.wait_workload_event(NAME, 3, "stop")
        reader.popen.send_signal(signal.SIGTERM)
        check(reader.wait(TIMEOUT) == 0, "reader saw a page go back:\n%s%s" % (
            reader.output()[-2000:], reader.errors()[-2000:]))
        rd = [e for e in parse_json_lines(reader.output()) if e.get("event") == "reader"]
        check(rd and rd[-1]["ok"] and rd[-1]["passes"] > 0, "reader: %s" % rd)
        r = subprocess.run([walker, "--socket", c.socket_path(2), "--seg", NAME, "--verify"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        ver = [e for e in parse_json_lines(r.stdout) if e.get("event") == "verify"]
        check(r.returncode == 0 and ver and ver[0]["ok"], "verify: %s %s" % (r.stdout,
                                                                             r.stderr))
        for m in moves:
            print("    moved to node %s: downtime %s ms, working set %s pages in %s ms" % (
                m.get("to"), m.get("downtime_ms"), m.get("ws_pages"), m.get("ws_ms")))
        print("    reader on node 3: %d passes, no page went back; verify: pass %s" % (
            rd[-1]["passes"], ver[0].get("pass")))
    finally:
        c.cleanup()
        etcd.stop()


TESTS = [test_migrate_twice_while_another_node_reads]


if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv, globals()))
