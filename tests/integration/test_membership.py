#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests of membership and fencing: three dsm-dataplanes in a
memif mesh with a cluster section, against a real etcd that the test
starts (Debian's etcd-server, own ports and data dir, stopped by pid), and
applications (tests/integration/apps/dsm-apptest) through libdsm.

    tests/integration/test_membership.py BUILD_DIR [test-name ...]

Waits are on conditions (log lines, telemetry, etcd keys) with deadlines.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from dsmcluster import Cluster, Etcd, parse_json_lines  # noqa: E402
from harness import check, run_tests, app_result as result  # noqa: E402

BUILD = None
PAGES = 64
SEGMENTS = [(1, "kv", "%dK" % ((PAGES + 1) * 4), 1), (2, "arr", "1M", 2)]
ARR_PAGES = 256
TUNING = {"request_timeout_ms": 2000, "home_timeout_ms": 1000}
VIEW_LINE = re.compile(r"node (\d+) (?:joined|moved to|is not in) epoch (\d+) members \[([\d,]*)\]")


class Env:
    """A cluster with membership and its etcd; everything stopped on exit."""

    def __init__(self, tag, ttl=2, start=True):
        self.c = Cluster(BUILD, tag=tag, clients=(), segments=SEGMENTS, sockets=True,
                         tuning=TUNING)
        self.etcd = Etcd(self.c.workdir)
        self.ttl = ttl
        self.start = start

    def __enter__(self):
        try:
            self.etcd.start()
            self.c.cluster = {"name": self.c.uniq, "etcd": self.etcd.url,
                              "lease_ttl_s": self.ttl, "workloads": False,
                              "state_dir": os.path.join(self.c.workdir, "state")}
            if self.start:
                self.c.start_dataplanes()
                self.wait_view([1, 2, 3], (1, 2, 3))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.c.cleanup()
        self.etcd.stop()
        return False

    def membership(self, node):
        return self.c.telemetry(node, "/dsm/membership")

    def wait_view(self, members, nodes, timeout=30, newer_than=0):
        """Wait until every node in nodes applied a view with these members
        (and an epoch above newer_than); returns that epoch."""
        deadline = time.monotonic() + timeout
        while True:
            views = [self.membership(n) for n in nodes]
            epochs = {v["epoch"] for v in views}
            if all(v["members"] == members and not v["fenced"] for v in views) and \
                    len(epochs) == 1 and min(epochs) > newer_than:
                return epochs.pop()
            if time.monotonic() > deadline:
                raise AssertionError("no common view %s on %s within %d s: %s" % (
                    members, nodes, timeout, views))
            time.sleep(0.02)

    def app(self, node, args, name):
        return self.c.start_app(node, args, name)


def wait_attached(c, node, count, timeout=30):
    """Wait until node's front end has taken count attaches in all."""
    deadline = time.monotonic() + timeout
    while c.telemetry(node, "/dsm/stats")["uffd_attached"] < count:
        check(time.monotonic() < deadline, "node %d: fewer than %d attaches" % (node, count))
        time.sleep(0.02)


def wait_accounted(c, heir, pages, timeout=30):
    """Wait until the heir has recovered or counted lost `pages` pages in
    all; its /dsm/stats then."""
    deadline = time.monotonic() + timeout
    while True:
        st = c.telemetry(heir, "/dsm/stats")
        if st["pages_recovered"] + st["pages_lost"] >= pages:
            return st
        check(time.monotonic() < deadline, "heir did not account for every page: %s" % {
            k: st[k] for k in ("pages_recovered", "pages_lost", "rehomed_segs")})
        time.sleep(0.02)


def views_printed(c, nodes):
    """epoch -> {node: members} from the dataplanes' view lines."""
    seen = {}
    for n in nodes:
        for m in VIEW_LINE.finditer(c.procs["dp%d" % n].output()):
            seen.setdefault(int(m.group(2)), {})[int(m.group(1))] = m.group(3)
    return seen


def test_three_nodes_one_epoch_and_simultaneous_joins():
    """Node 1 starts alone; nodes 2 and 3 then start at the same moment.
    Every node ends in one epoch with all three members; no epoch was ever
    seen with two different member lists; etcd's epoch key is that view."""
    with Env("dsmmj", start=False) as e:
        e.c.start_dataplanes(only=[1])
        e.wait_view([1], (1,))
        e.c.start_dataplanes(only=[2, 3])
        epoch = e.wait_view([1, 2, 3], (1, 2, 3))
        seen = views_printed(e.c, (1, 2, 3))
        for ep, by_node in seen.items():
            check(len(set(by_node.values())) == 1,
                  "epoch %d seen with different members: %s" % (ep, by_node))
        key = e.etcd.get_prefix("/dsm/%s/epoch" % e.c.uniq)["/dsm/%s/epoch" % e.c.uniq]
        check(int(key["epoch"]) == epoch and [m[0] for m in key["members"]] == [1, 2, 3],
              "etcd epoch key %s, nodes at %d" % (key, epoch))
        nodes = e.etcd.get_prefix("/dsm/%s/nodes/" % e.c.uniq)
        check(sorted(v["node"] for v in nodes.values()) == [1, 2, 3],
              "node records: %s" % nodes)
        print("    one epoch (%d) after %d view changes; node records %s" % (
            epoch, len(seen), sorted(nodes)))


def test_sigkill_detected_new_epoch_lost_pages_exact():
    """Node 3 owns pages of kv (homed at 1) exclusively when it is killed
    with SIGKILL: nodes 1 and 2 write it off within 2x the lease TTL, move
    to a new epoch without it, count exactly the pages whose only copy
    died with it (telemetry lists them), fail an access to one with
    SIGBUS, and keep serving everything else."""
    with Env("dsmmk") as e:
        c = e.c
        result(e.app(3, ["--segment", "kv", "--writer", "3", "--pages", "16",
                         "--seconds", "1", "rw"], "w3"))
        owned = [pg for pg in range(PAGES + 1)
                 if c.telemetry(1, "/dsm/page,1,%d" % pg)["dir_state"] == "exclusive"
                 and c.telemetry(1, "/dsm/page,1,%d" % pg)["owner"] == 3]
        check(owned, "node 3 owns no page of kv")
        before = c.telemetry(1, "/dsm/stats")["pages_lost"]
        epoch0 = e.membership(1)["epoch"]
        t0 = time.monotonic()
        c.procs["dp3"].popen.send_signal(signal.SIGKILL)
        c.procs["dp3"].popen.wait(10)
        e.wait_view([1, 2], (1, 2), timeout=4 * e.ttl, newer_than=epoch0)
        detect = time.monotonic() - t0
        check(detect <= 2 * e.ttl, "detected after %.2f s, TTL %d s" % (detect, e.ttl))
        lost = c.telemetry(1, "/dsm/stats")["pages_lost"] - before
        check(lost == len(owned), "lost %d pages, node 3 owned %d" % (lost, len(owned)))
        listed = c.telemetry(1, "/dsm/lost")
        check(listed["lost_total"] == len(owned) and
              sorted(int(p.split(":")[1]) for p in listed["pages"]) == owned,
              "/dsm/lost %s, owned %s" % (listed, owned))
        check(c.telemetry(1, "/dsm/segstats")["1"]["lost"] == len(owned), "segstats")
        r = result(e.app(2, ["--segment", "kv", "--page", str(owned[0]), "sigbus"], "sb"))
        check(r.get("sigbus") == "1", "a lost page did not raise SIGBUS: %s" % r)
        r = result(e.app(1, ["--segment", "arr", "--writer", "1", "--pages", "32",
                             "--seconds", "1", "rw"], "w1"))
        check(int(r["writes"]) > 0, "no service after the failure: %s" % r)
        print("    SIGKILL detected in %.2f s (TTL %d s); %d pages lost, all listed" % (
            detect, e.ttl, lost))


def test_sigkill_home_rehomed_from_copies():
    """Node 1, the home of kv, is killed with SIGKILL.  Node 2 (the lowest
    survivor) adopts kv and rebuilds every page from the survivors' copies:
    node 2 owns the pages it wrote, node 3 shares the ones it read.  No
    write is lost (the counters add up to the writes done before the
    failure), pages that only node 1 held are lost exactly (listed, and
    SIGBUS), and kv takes writes again."""
    with Env("dsmmh") as e:
        c = e.c
        w = result(e.app(2, ["--segment", "kv", "--writer", "2", "--pages", "16",
                             "--seconds", "1", "rw"], "w2"))
        writes = int(w["writes"])
        result(e.app(3, ["--segment", "kv", "--pages", "8", "scan"], "scan3"))
        held = sorted(pg for pg in range(PAGES + 1)
                      if any(c.telemetry(n, "/dsm/page,1,%d" % pg)["cache_state"] != "invalid"
                             for n in (2, 3)))
        check(len(held) >= 9 and held[:8] == list(range(8)), "survivors hold %s" % held)
        epoch0 = e.membership(2)["epoch"]
        c.procs["dp1"].popen.send_signal(signal.SIGKILL)
        c.procs["dp1"].popen.wait(10)
        e.wait_view([2, 3], (2, 3), timeout=4 * e.ttl, newer_than=epoch0)
        t_view = time.monotonic()
        st = wait_accounted(c, 2, PAGES + 1)
        t_swept = time.monotonic()
        check(st["pages_recovered"] == len(held) and st["pages_lost"] == PAGES + 1 - len(held),
              "recovered %d lost %d, survivors held %d of %d" % (
                  st["pages_recovered"], st["pages_lost"], len(held), PAGES + 1))
        lost = sorted(int(p.split(":")[1]) for p in c.telemetry(2, "/dsm/lost")["pages"])
        check(lost == sorted(set(range(PAGES + 1)) - set(held)),
              "/dsm/lost lists %s, survivors held %s" % (lost, held))
        check(c.telemetry(2, "/dsm/page,1,0")["is_home"], "node 2 is not kv's home")
        r = result(e.app(3, ["--segment", "kv", "--pages", "16", "--expect", str(writes),
                             "sum"], "sum3"))
        r = result(e.app(3, ["--segment", "kv", "--page", str(lost[0]), "sigbus"], "sb"))
        check(r.get("sigbus") == "1", "a lost page did not raise SIGBUS: %s" % r)
        w3 = result(e.app(3, ["--segment", "kv", "--writer", "3", "--pages", "16",
                              "--seconds", "1", "rw"], "w3"))
        result(e.app(2, ["--segment", "kv", "--pages", "16", "--expect",
                         str(writes + int(w3["writes"])), "sum"], "sum2"))
        print("    kv re-homed to node 2: %d pages recovered from copies, %d lost "
              "(listed), every page accounted for %.0f ms after the test saw the view, "
              "%d + %s writes intact" % (len(held), len(lost), (t_swept - t_view) * 1000,
                                         writes, w3["writes"]))


def holders(c, seg, pages, nodes):
    """The pages of seg that some node of nodes holds a copy of."""
    return sorted(pg for pg in range(pages)
                  if any(c.telemetry(n, "/dsm/page,%d,%d" % (seg, pg))["cache_state"] != "invalid"
                         for n in nodes))


def walker(c, node, args):
    """examples/dsm-walker on node's control socket, segment "made"; its
    JSON lines."""
    r = subprocess.run([os.path.join(BUILD, "examples/dsm-walker"), "--socket",
                        c.socket_path(node), "--seg", "made"] + args,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "dsm-walker %s: exit %d %s" % (args, r.returncode, r.stderr))
    return parse_json_lines(r.stdout)


def owned_by(c, seg, pages, node):
    """The pages of seg that node owns exclusively, from the home's
    directory (c.telemetry on the home: seg 2, arr, is homed at 2)."""
    home = dict((s[0], s[3]) for s in SEGMENTS)[seg]
    entries = (c.telemetry(home, "/dsm/page,%d,%d" % (seg, pg)) for pg in range(pages))
    return [e["pgno"] for e in entries if e["dir_state"] == "exclusive" and e["owner"] == node]


def test_drain_copies_pages_then_home_leaves_losing_none():
    """Node 1, the home of kv and of a segment dsm-walker created there at
    run time (that no other node has heard of), and the owner of pages of
    arr (homed at 2), is drained with `dsmctl drain 1`: node 2, the heir,
    learns the created segment and copies every page of both, and, as
    arr's home, reads back the pages of arr node 1 owns.  Then node 1 is
    stopped: node 2 adopts both segments and recovers all of their pages,
    nothing is lost, and every write made on node 1 before the drain is
    there - where the same stop without a drain would lose the pages only
    node 1 held."""
    with Env("dsmmd") as e:
        c = e.c
        w1 = result(e.app(1, ["--segment", "kv", "--writer", "1", "--pages", "16",
                              "--seconds", "1", "rw"], "w1"))
        a1 = result(e.app(1, ["--segment", "arr", "--writer", "1", "--pages", "16",
                              "--seconds", "1", "rw"], "a1"))
        result(e.app(3, ["--segment", "kv", "--pages", "4", "scan"], "scan3"))
        walker(c, 1, ["--size", "256K", "--passes", "1"])
        made = c.telemetry(1, "/dsm/segments")["made"]
        check("made" not in c.telemetry(2, "/dsm/segments"), "node 2 knows 'made'")
        check(not holders(c, 1, PAGES + 1, (2,)), "node 2 holds pages of kv")
        only1 = sorted(set(range(PAGES + 1)) - set(holders(c, 1, PAGES + 1, (3,))))
        owned = owned_by(c, 2, ARR_PAGES, 1)
        check(len(only1) > PAGES // 2 and owned, "node 1 alone holds %d pages of kv and "
              "owns %s of arr" % (len(only1), owned))
        t0 = time.monotonic()
        out = c.dsmctl(["drain", "1"])
        drain_ms = (time.monotonic() - t0) * 1000
        last = out.splitlines()[-1]
        check(re.match(r"node 1 drained: 0 workload\(s\) moved, \d+ page\(s\) copied off "
                       r"it \(node 2 inherits its segments\)$", last), "drain said %r" % out)
        copied = int(re.search(r"(\d+) page\(s\) copied", last).group(1))
        # Node 2 held no page of kv or made: it reads all of them, and
        # arr's owned ones.
        homed1 = PAGES + 1 + made["pages"]
        check(copied == homed1 + len(owned), "copied %d, expected %d + %d" % (
            copied, homed1, len(owned)))
        check(holders(c, 1, PAGES + 1, (2,)) == list(range(PAGES + 1)),
              "node 2 does not hold every page of kv")
        check(not owned_by(c, 2, ARR_PAGES, 1), "node 1 still owns pages of arr")
        ev = c.telemetry(2, "/dsm/evacuation")
        check(ev["node"] == 1 and not ev["active"] and ev["heir"] and ev["failed"] == 0 and
              ev["done"] == ev["pages"], "node 2's evacuation: %s" % ev)
        epoch0 = e.membership(2)["epoch"]
        c.procs["dp1"].stop()
        e.wait_view([2, 3], (2, 3), timeout=4 * e.ttl, newer_than=epoch0)
        st = wait_accounted(c, 2, homed1)
        check(st["pages_lost"] == 0 and st["pages_recovered"] == homed1,
              "recovered %d lost %d of %d" % (st["pages_recovered"], st["pages_lost"], homed1))
        check(c.telemetry(2, "/dsm/lost")["lost_total"] == 0, "/dsm/lost lists pages")
        result(e.app(3, ["--segment", "kv", "--pages", "16", "--expect", w1["writes"],
                         "sum"], "sum-kv"))
        result(e.app(3, ["--segment", "arr", "--pages", "16", "--expect", a1["writes"],
                         "sum"], "sum-arr"))
        v = [j for j in walker(c, 2, ["--verify"]) if j.get("event") == "verify"]
        check(v and v[0].get("ok"), "the walker's segment after the leave: %s" % v)
        print("    drain copied %d pages in %.0f ms (node 1 alone held %d of kv and %d of "
              "made, owned %d of arr); after it left: %d pages recovered, 0 lost, %s + %s "
              "writes intact, walker verified" % (
                  copied, drain_ms, len(only1), made["pages"], len(owned),
                  st["pages_recovered"], w1["writes"], a1["writes"]))


def test_sigstop_fenced_rejoins_new_incarnation_drops_copies():
    """Node 3 is paused with SIGSTOP past its lease while an application on
    it keeps faulting.  The others write it off; when continued it finds
    itself fenced: its stale messages are rejected, it drops its cached
    copies, and it rejoins with a new incarnation and serves again."""
    with Env("dsmms") as e:
        c = e.c
        result(e.app(3, ["--segment", "arr", "--pages", "8", "scan"], "scan"))
        check(c.telemetry(3, "/dsm/page,2,3")["cache_state"] == "shared", "no copy held")
        writer = e.app(2, ["--segment", "kv", "--writer", "2", "--pages", "8",
                           "--seconds", "12", "rw"], "w2")
        reader = e.app(3, ["--segment", "kv", "--writer", "0", "--pages", "8",
                           "--seconds", "12", "rw"], "r3")
        wait_attached(c, 3, 2)
        m3 = e.membership(3)
        epoch0 = m3["epoch"]
        rejected0 = sum(c.telemetry(n, "/dsm/stats")["drop_channel"] +
                        c.telemetry(n, "/dsm/stats")["drop_epoch"] for n in (1, 2))
        c.procs["dp3"].popen.send_signal(signal.SIGSTOP)
        try:
            epoch1 = e.wait_view([1, 2], (1, 2), timeout=4 * e.ttl, newer_than=epoch0)
        finally:
            c.procs["dp3"].popen.send_signal(signal.SIGCONT)
        c.procs["dp3"].wait_for("fenced", 20)
        e.wait_view([1, 2, 3], (1, 2, 3), timeout=20, newer_than=epoch1)
        m3b = e.membership(3)
        check(m3b["incarnation"] != m3["incarnation"] and m3b["rejoins"] >= 1,
              "no new incarnation: %s -> %s" % (m3, m3b))
        rejected = sum(c.telemetry(n, "/dsm/stats")["drop_channel"] +
                       c.telemetry(n, "/dsm/stats")["drop_epoch"] for n in (1, 2)) - rejected0
        check(rejected > 0, "no stale message of the fenced node was rejected")
        check(c.telemetry(3, "/dsm/page,2,3")["cache_state"] == "invalid",
              "the fenced node kept its cached copy")
        check(not (c.telemetry(2, "/dsm/page,2,3")["sharers"] & (1 << 3)),
              "the home still lists the fenced node as a sharer")
        writer.wait(60)
        reader.wait(60)
        r = result(e.app(3, ["--segment", "arr", "--pages", "8", "scan"], "scan2"))
        check(c.telemetry(3, "/dsm/page,2,3")["cache_state"] == "shared",
              "the rejoined node is not served: %s" % r)
        print("    fenced and rejoined (incarnation %d -> %d), %d stale frames/messages "
              "rejected" % (m3["incarnation"], m3b["incarnation"], rejected))


def test_etcd_restart_does_not_stop_page_service():
    """etcd is stopped and restarted (same data) under a running cluster
    while applications write and read: they see no error, no node is fenced,
    and membership works afterwards (a node leaving is seen at once)."""
    with Env("dsmme", ttl=8) as e:
        c = e.c
        epoch0 = e.membership(1)["epoch"]
        writer = e.app(2, ["--segment", "kv", "--writer", "2", "--pages", "16",
                           "--seconds", "6", "rw"], "w2")
        reader = e.app(3, ["--segment", "kv", "--writer", "0", "--pages", "16",
                           "--seconds", "6", "rw"], "r3")
        wait_attached(c, 3, 1)
        t0 = time.monotonic()
        e.etcd.stop()
        e.etcd.start()
        outage = time.monotonic() - t0
        w, r = result(writer), result(reader)
        check(int(w["writes"]) > 0 and int(r["reads"]) > 0, "no work: %s %s" % (w, r))
        for n in (1, 2, 3):
            m = e.membership(n)
            check(m["fences"] == 0 and not m["fenced"], "node %d fenced: %s" % (n, m))
        c.procs["dp3"].stop()
        e.wait_view([1, 2], (1, 2), timeout=5, newer_than=epoch0)
        print("    etcd down for %.2f s: %s writes, %s reads, no fence" % (
            outage, w["writes"], r["reads"]))


TESTS = [
    test_three_nodes_one_epoch_and_simultaneous_joins,
    test_sigkill_detected_new_epoch_lost_pages_exact,
    test_sigkill_home_rehomed_from_copies,
    test_drain_copies_pages_then_home_leaves_losing_none,
    test_sigstop_fenced_rejoins_new_incarnation_drops_copies,
    test_etcd_restart_does_not_stop_page_service,
]


if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv, globals()))
