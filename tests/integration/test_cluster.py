#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests: three dsm-dataplanes and dsm-loadgen clients over memif.

    tests/integration/test_cluster.py BUILD_DIR [test-name ...]

Every test brings up its own cluster (own temp dir, own --file-prefix values),
and stops every process it started by pid.  Prints one PASS/FAIL line per test
and a closing "N passed, N failed" line; exits non-zero on any failure.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from dsmcluster import Cluster, Proc, parse_json_lines  # noqa: E402
from harness import check, run_tests  # noqa: E402

BUILD = None
PAGES = 32


def last_json(text):
    objs = parse_json_lines(text)
    check(objs, "no JSON summary in output:\n" + text[-2000:])
    return objs[-1]


def test_coherent_writes_two_nodes_reads_third():
    """Writers on nodes 11 and 12 increment the same pages while node 13
    reads them; no read goes back in time, no write is lost (the final
    counters add up to the writes made), and the protocol paths (zero-fill,
    downgrade, invalidation, writeback) were all exercised."""
    # Dataplane 1 (home of segment 1) runs two engine shards on worker lcores.
    with Cluster(BUILD, tag="dsmit", clients=(11, 12, 13, 14),
                 dataplane_lcores={1: "0@0,1@1,2@1"}) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "1", "-p", "0:%d" % PAGES, "-q", "4", "-j"]
        # Time-bounded so that the three really overlap.
        w11 = c.start_client(11, args + ["-d", "3", "-W", "100", "-L"], name="w11")
        w12 = c.start_client(12, args + ["-d", "3", "-W", "100", "-L"], name="w12")
        # Every client lingers (keeps answering invalidations) until the
        # end: a node that vanishes is handled by the failure paths, which
        # test_peer_restart_* exercise; this test is about coherence.
        r13 = c.start_client(13, args + ["-d", "3", "-W", "0", "-L"], name="r13")
        for p in (w11, w12, r13):
            p.wait_for("workload done", 180)
        j11, j12, j13 = last_json(w11.output()), last_json(w12.output()), last_json(r13.output())
        for name, j in (("w11", j11), ("w12", j12), ("r13", j13)):
            check(j["errors"] == 0 and j["check_failures"] == 0, "%s reported %s" % (name, j))
        check(j11["writes"] > 100 and j12["writes"] > 100, "too few writes: %s %s" % (j11, j12))
        check(j11["remote"] > 0 and j12["remote"] > 0 and j13["remote"] > 0,
              "no remote traffic: %s %s %s" % (j11, j12, j13))
        # Node 14 reads every page: the counters must add up to every write
        # made by 11 and 12 (the owners serve the data).
        total = j11["writes"] + j12["writes"]
        rc, out, err = c.run_client(14, args + ["-n", "1", "-W", "0", "-V", str(total)])
        check(rc == 0, "final verification failed (rc %d):\n%s\n%s" % (rc, out[-2000:], err[-2000:]))
        st = c.telemetry(1, "/dsm/stats")
        for key in ("grants_tx", "zero_grants", "invalidations_tx", "downgrades_tx", "writebacks"):
            check(st[key] > 0, "dataplane 1 never did %s: %s" % (key, st))
        check(st["shards"] == 2, "dataplane 1 should run 2 shards: %s" % st["shards"])
        page = c.telemetry(1, "/dsm/page,1,0")
        check(page["is_home"] == 1 and page["version"] > 0, "page 0 entry: %s" % page)
        for p in (w11, w12, r13):
            check(p.stop() == 0, "%s exited non-zero:\n%s" % (p.name, p.errors()[-2000:]))


def test_bad_frames_dropped_counted_service_continues():
    """Malformed, truncated and wrong-version frames are dropped and counted
    under the right reason, and the node keeps serving.  (Stale epochs are
    the engine's to drop, not the I/O path's: see the engine unit tests and
    tests/integration/test_membership.py.)"""
    with Cluster(BUILD, tag="dsmbad") as c:
        c.start_dataplanes()
        before = c.telemetry(2, "/dsm/stats")
        rc, out, err = c.run_client(13, ["-w", "inject", "-t", "2", "-n", "10"])
        check(rc == 0, "inject failed: %s %s" % (out, err))
        injected = last_json(out)["injected"]
        after = c.telemetry(2, "/dsm/stats")
        for kind, v in injected.items():
            key = "drop_" + v["drop_reason"]
            got = after[key] - before[key]
            check(v["count"] == 10 and got == v["count"],
                  "%s: sent %d, dataplane counted %d under %s" % (kind, v["count"], got, key))
        rc, out, err = c.run_client(11, ["-w", "rw", "-s", "2", "-n", "500", "-W", "50", "-j"])
        check(rc == 0, "service after bad input failed:\n%s\n%s" % (out[-2000:], err[-2000:]))
        check(c.procs["dp2"].popen.poll() is None, "dataplane 2 died")


def test_telemetry_script_and_segments():
    """dpdk-telemetry.py can query the daemon's commands; SIGTERM stops the
    daemon cleanly."""
    with Cluster(BUILD, tag="dsmtel", ndataplanes=2, clients=()) as c:
        c.start_dataplanes()
        out = subprocess.run(["dpdk-telemetry.py", "-f", c.prefix(1)],
                             input="/dsm/segments\n/dsm/peers\n/help,/dsm/page\n",
                             capture_output=True, text=True, timeout=30).stdout
        check('"kv"' in out and '"array"' in out, "segments missing:\n" + out)
        check('"2"' in out, "peer 2 missing:\n" + out)
        check("seg_id,pgno" in out, "help text missing:\n" + out)
        # SIGTERM: a clean exit with the counters printed.
        dp = c.procs["dp1"]
        check(dp.stop() == 0, "dataplane 1 did not exit cleanly on SIGTERM")
        check("node 1 epoch 1:" in dp.output() and "drops: total=" in dp.output(),
              "no final statistics:\n" + dp.output()[-1000:])


def test_lossy_links_still_coherent():
    """With 5% of frames dropped and 2% duplicated on every receive path
    (the runtime's seeded fault shim), the reliable channel recovers and the
    workload's checks still pass."""
    tuning = {"fault_drop_pct": 5, "fault_dup_pct": 2, "fault_seed": 7,
              "request_timeout_ms": 10000, "home_timeout_ms": 5000}
    with Cluster(BUILD, tag="dsmloss", clients=(11, 12), tuning=tuning) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "1", "-p", "0:16", "-q", "4", "-j", "-W", "60",
                "-n", "800", "-L"]
        w11 = c.start_client(11, args, name="w11")
        w12 = c.start_client(12, args, name="w12")
        for p in (w11, w12):
            p.wait_for("workload done", 240)
            j = last_json(p.output())
            check(j["errors"] == 0 and j["check_failures"] == 0, "%s: %s" % (p.name, j))
        st = c.telemetry(1, "/dsm/stats")
        check(st["fault_dropped"] > 0 and st["fault_duplicated"] > 0, "shim idle: %s" % st)
        check(st["chan_retx_frames"] > 0, "no retransmissions under loss: %s" % st)
        check(w12.stop() == 0, "w12 exited non-zero")
        check(w11.stop() == 0, "w11 exited non-zero")


def test_config_errors_report_file_and_line():
    """A bad config is rejected with file:line and exit status 2."""
    with Cluster(BUILD, tag="dsmcfg", ndataplanes=1, clients=()) as c:
        path = c.config_path(1)
        with open(path) as f:
            text = f.read()
        bad = text.replace("  epoch: 1", "  epoch: 1\n  colour: blue")
        with open(path, "w") as f:
            f.write(bad)
        argv = [os.path.join(BUILD, "dataplane/daemon/dsm-dataplane")] + \
            c.eal(1, "0@0") + ["--", "--config", path]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        check(r.returncode == 2, "exit %d, expected 2" % r.returncode)
        line = bad.splitlines().index("  colour: blue") + 1
        check("%s:%d: unknown key 'node.colour'" % (path, line) in r.stderr,
              "error not reported with file:line:\n" + r.stderr)
        r = subprocess.run(argv[:-2] + ["--idle", "never"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 2 and "--idle must be poll or sleep" in r.stderr,
              "bad option not rejected: %d %s" % (r.returncode, r.stderr))


def test_peer_restart_loses_owned_pages_explicitly():
    """A node that restarts (SIGKILL, then the same node id again) comes
    back with a new channel session; its home notices, and every page the
    old incarnation owned exclusively is reported lost (counted, and readers
    get an error) - never silently served from the home's older copy."""
    with Cluster(BUILD, tag="dsmrst", clients=(11, 12)) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "1", "-p", "0:8", "-q", "1", "-j"]
        w11 = c.start_client(11, args + ["-n", "8", "-W", "100", "-Q", "-L"], name="w11")
        w11.wait_for("workload done", 60)
        check(last_json(w11.output())["writes"] == 8, "w11 did not write 8 pages")
        os.kill(w11.pid, 9)
        w11.wait(30)
        # The new incarnation reads a page it never owned from the same home:
        # the home sees the new session before that request (frames are in
        # order) and writes the old incarnation off.
        rc, out, err = c.run_client(11, ["-w", "rw", "-s", "1", "-p", "9:1", "-n", "5",
                                         "-W", "0", "-j"])
        check(rc == 0, "restarted node 11 failed:\n%s\n%s" % (out[-2000:], err[-2000:]))
        st = c.telemetry(1, "/dsm/stats")
        check(st["pages_lost"] == 8, "expected 8 lost pages, got %s" % st["pages_lost"])
        check(c.telemetry(1, "/dsm/page,1,3")["lost"] == 1, "page 3 not marked lost")
        rc, out, err = c.run_client(12, args + ["-n", "4", "-W", "0", "-Q"])
        check(rc != 0 and "Input/output error" in err, "reading a lost page must fail:\n" + err)
        check(c.telemetry(1, "/dsm/page,1,9")["lost"] == 0, "page 9 wrongly lost")


def test_dead_sharer_dropped_writers_proceed():
    """A reader killed while it holds shared copies stops acking; once its
    channel is declared dead the home drops it from the sharer sets and a
    writer's invalidation round completes."""
    with Cluster(BUILD, tag="dsmdead", clients=(11, 12),
                 tuning={"request_timeout_ms": 8000, "home_timeout_ms": 6000}) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "1", "-p", "0:4", "-q", "1", "-j", "-Q"]
        r12 = c.start_client(12, args + ["-n", "4", "-W", "0", "-L"], name="r12")
        r12.wait_for("workload done", 60)
        os.kill(r12.pid, 9)
        r12.wait(30)
        rc, out, err = c.run_client(11, args + ["-n", "4", "-W", "100"], timeout=120)
        check(rc == 0, "writer failed:\n%s\n%s" % (out[-2000:], err[-2000:]))
        st = c.telemetry(1, "/dsm/stats")
        check(st["sharers_dropped"] >= 1 and st["pages_lost"] == 0,
              "sharer not dropped cleanly: %s" % {k: st[k] for k in ("sharers_dropped", "pages_lost")})
        check(st["peer_down_events"] >= 1, "channel to the dead reader never declared down")


def test_start_order_client_before_server():
    """A dataplane whose memif link is the client side may start before its
    peer: it serves at once, survives, and connects when the peer appears."""
    with Cluster(BUILD, tag="dsmord", ndataplanes=2, clients=(11,)) as c:
        c.start_dataplanes(only=[2])           # node 2 is the client of the 1-2 link
        c.start_dataplanes(only=[1])
        deadline = time.monotonic() + 15
        while c.telemetry(2, "/ethdev/link_status,0").get("status") != "UP":
            check(time.monotonic() < deadline, "link 1-2 never came up")
            check(c.procs["dp2"].popen.poll() is None, "dataplane 2 died:\n" +
                  c.procs["dp2"].errors()[-2000:])
            time.sleep(0.05)
        for seg in ("1", "2"):
            rc, out, err = c.run_client(11, ["-w", "rw", "-s", seg, "-n", "200", "-j"])
            check(rc == 0, "segment %s not served:\n%s\n%s" % (seg, out[-1500:], err[-1500:]))


def test_dumpcap_captures_traffic():
    """dpdk-dumpcap attaches to a running dataplane (rte_pdump) and captures
    its protocol frames into a pcapng file."""
    with Cluster(BUILD, tag="dsmcap", ndataplanes=1, clients=(11,), shared_memory=(1,)) as c:
        c.start_dataplanes()
        out = os.path.join(c.workdir, "cap.pcapng")
        cap = Proc("dumpcap", ["dpdk-dumpcap", "--file-prefix", c.prefix(1), "-i",
                               "net_memif0", "-c", "20", "-w", out], c.workdir, c.prefix(1))
        c.procs["dumpcap"] = cap
        cap.wait_for("Packets captured:", 60)   # its capture loop is running
        rc, o, e = c.run_client(11, ["-w", "rw", "-s", "1", "-n", "200", "-j"])
        check(rc == 0, "client failed: %s %s" % (o[-1000:], e[-1000:]))
        check(cap.wait(60) == 0, "dumpcap failed:\n" + cap.errors()[-2000:])
        got = re.search(r"Packets received/dropped on interface 'net_memif0': (\d+)/0",
                        cap.errors())
        check(got and int(got.group(1)) >= 20, "capture count:\n" + cap.errors())
        with open(out, "rb") as f:
            data = f.read()
        check(data[:4] == b"\x0a\x0d\x0d\x0a", "not a pcapng file")
        check(b"DSMP" in data, "no dsm frame (magic DSMP) in the capture")


def _netns(*cmds):
    for c in cmds:
        subprocess.run(c.split(), check=True, capture_output=True, timeout=30)


def test_jumbo_frames_one_frame_per_page():
    """Over ports whose MTU allows it (veth pairs with MTU 9000 between
    network namespaces this test creates, net_pcap ports), every message -
    4 KiB pages included - travels in one frame: writer 11's pages reach
    reader 12 through the home (downgrade, write-back, grant), intact.  Over
    memif (MTU 1500) a page takes three frames."""
    tag = "dsmj%d" % os.getpid()
    ns = {1: tag + "h", 11: tag + "w", 12: tag + "r"}
    _netns(*["ip netns add " + n for n in ns.values()])
    try:
        for cl in (11, 12):
            _netns("ip link add h%d netns %s type veth peer name c%d netns %s" % (
                       cl, ns[1], cl, ns[cl]),
                   "ip -n %s link set h%d mtu 9000 up" % (ns[1], cl),
                   "ip -n %s link set c%d mtu 9000 up" % (ns[cl], cl))
        with Cluster(BUILD, tag="dsmjumbo", ndataplanes=1, clients=(11, 12)) as c:
            seg = "segments:\n  - id: 1\n    name: kv\n    size: 1M\n    home: 1\n"
            port = "  - name: p%d\n    vdev: net_pcap%d\n    args: iface=%s\n    mtu: 9000\n"
            peer = "  - id: %d\n    ip: 10.78.0.%d\n    port: p%d\n"
            cfg = {1: "node:\n  id: 1\n  ip: 10.78.0.1\nports:\n" +
                   port % (11, 0, "h11") + port % (12, 1, "h12") +
                   "peers:\n" + peer % (11, 11, 11) + peer % (12, 12, 12) + seg}
            for cl in (11, 12):
                cfg[cl] = ("node:\n  id: %d\n  ip: 10.78.0.%d\nports:\n" % (cl, cl) +
                           port % (1, 0, "c%d" % cl) + "peers:\n" + peer % (1, 1, 1) + seg)
            for node, text in cfg.items():
                with open(c.config_path(node), "w") as f:
                    f.write(text)
            argv = ["ip", "netns", "exec", ns[1],
                    os.path.join(BUILD, "dataplane/daemon/dsm-dataplane")] + \
                c.eal(1, "0@1") + ["--", "--config", c.config_path(1), "--idle", "sleep"]
            c.procs["dp1"] = Proc("dp1", argv, c.workdir, c.prefix(1))
            c.procs["dp1"].wait_for("ready", 30)
            args = ["-w", "rw", "-s", "1", "-p", "0:16", "-q", "2", "-j"]
            w = c.procs["w11"] = Proc("w11", ["ip", "netns", "exec", ns[11]] + c.client_argv(
                11, args + ["-n", "400", "-W", "100", "-L"]), c.workdir, c.prefix(11))
            w.wait_for("workload done", 120)
            writes = last_json(w.output())["writes"]
            r = c.procs["r12"] = Proc("r12", ["ip", "netns", "exec", ns[12]] + c.client_argv(
                12, args + ["-n", "1", "-W", "0", "-V", str(writes)]), c.workdir, c.prefix(12))
            check(r.wait(120) == 0, "reader failed:\n%s\n%s" % (r.output()[-1500:],
                                                                r.errors()[-1500:]))
            st = c.telemetry(1, "/dsm/stats")
            data_grants = st["grants_tx"] - st["zero_grants"] - st["nodata_grants"]
            check(data_grants >= 16 and st["writebacks"] >= 16,
                  "page data did not move: %d data grants, %d write-backs" % (
                      data_grants, st["writebacks"]))
            check(st["chan_tx_frames"] == st["peer_tx_msgs"] and
                  st["chan_rx_delivered"] == st["peer_rx_msgs"],
                  "messages were fragmented: %s" % {k: st[k] for k in (
                      "chan_tx_frames", "peer_tx_msgs", "chan_rx_delivered", "peer_rx_msgs")})
            # Allowed: the kernel's IPv6 chatter on a fresh veth (not_ipv4) and
            # duplicates of retransmitted frames (channel).  No frame of ours
            # may be malformed, truncated or out of sequence.
            bad = {k: v for k, v in st.items() if k.startswith("drop_") and
                   k not in ("drop_not_ipv4", "drop_channel") and v}
            check(not bad, "drops: %s" % bad)
            check(w.stop() == 0, "writer exited non-zero")
    finally:
        for n in ns.values():
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=30)

def test_huge_pages_2m():
    """A segment with 2 MiB pages: each page is one coherence unit and
    travels as 1516 frames over memif (reassembled in order); a writer's
    pages reach a reader through the home, intact."""
    segs = [(1, "kv", "1M", 1), (4, "huge", "8M", 1, "2M")]
    with Cluster(BUILD, tag="dsmhuge", ndataplanes=1, clients=(11, 12), segments=segs,
                 tuning={"mbufs": 16384, "request_timeout_ms": 10000,
                         "home_timeout_ms": 5000}) as c:
        c.start_dataplanes()
        args = ["-w", "rw", "-s", "4", "-p", "0:4", "-q", "1", "-j", "-Q"]
        w = c.start_client(11, args + ["-n", "8", "-W", "100", "-L"], name="w11")
        w.wait_for("workload done", 120)
        j = last_json(w.output())
        check(j["writes"] == 8 and j["errors"] == 0, "writer: %s" % j)
        rc, out, err = c.run_client(12, args + ["-n", "4", "-W", "0", "-V", "8"])
        check(rc == 0, "reader failed:\n%s\n%s" % (out[-1500:], err[-1500:]))
        st = c.telemetry(1, "/dsm/stats")
        check(st["writebacks"] >= 4 and st["shard_installs"] >= 4,
              "2 MiB pages did not come home: %s" % st)
        check(st["chan_tx_frames"] >= 4 * 1516, "too few frames for 4 x 2 MiB: %d"
              % st["chan_tx_frames"])
        check(st["shard_exec_errors"] == 0 and st["drops"] == st["drop_channel"],
              "errors: %s" % {k: v for k, v in st.items() if "err" in k or "drop" in k})
        check(w.stop() == 0, "writer exited non-zero")


TESTS = [
    test_coherent_writes_two_nodes_reads_third,
    test_bad_frames_dropped_counted_service_continues,
    test_telemetry_script_and_segments,
    test_lossy_links_still_coherent,
    test_config_errors_report_file_and_line,
    test_peer_restart_loses_owned_pages_explicitly,
    test_dead_sharer_dropped_writers_proceed,
    test_start_order_client_before_server,
    test_dumpcap_captures_traffic,
    test_jumbo_frames_one_frame_per_page,
    test_huge_pages_2m,
]


if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv, globals()))
