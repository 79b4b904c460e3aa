#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration tests of the userfaultfd front end: real applications
(tests/integration/apps/dsm-apptest, through libdsm) on three dsm-dataplanes
linked by memif.

    tests/integration/test_apps.py BUILD_DIR [test-name ...]

Every test brings up its own cluster (own temp dir, --file-prefix values and
control sockets) and stops every process it started by pid.
"""
import ctypes
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from dsmcluster import Cluster, Proc  # noqa: E402
from harness import check, run_tests, app_result as result  # noqa: E402

BUILD = None
PAGES = 64
# kv homed at 1, arr at 2, far at 3 (the one whose home is killed), big with
# 2 MiB pages at 1.  +1 page for the progress table of the rw mode.
SEGMENTS = [(1, "kv", "%dK" % ((PAGES + 1) * 4), 1), (2, "arr", "1M", 2),
            (3, "far", "64K", 3), (4, "big", "16M", 1, "2M")]
TUNING = {"request_timeout_ms": 2000, "home_timeout_ms": 1000}


def cluster():
    return Cluster(BUILD, tag="dsmapp", clients=(), segments=SEGMENTS, sockets=True,
                   tuning=TUNING)


def stats(c, node):
    return c.telemetry(node, "/dsm/stats")


def test_apps_concurrent_writers_no_lost_or_stale():
    """Writers on nodes 2 and 3 stamp the same pages of kv (homed at 1) while
    an application on node 1 reads them: every read is intact, never goes
    back, and is never older than a write whose completion it could have
    seen (progress published after each write); the counters add up to the
    writes made (no write lost)."""
    with cluster() as c:
        c.start_dataplanes()
        args = ["--segment", "kv", "--pages", str(PAGES), "--seconds", "3", "rw"]
        w2 = c.start_app(2, ["--writer", "1"] + args, "w2")
        w3 = c.start_app(3, ["--writer", "2"] + args, "w3")
        r1 = c.start_app(1, ["--writer", "0"] + args, "r1")
        res = [result(p) for p in (w2, w3, r1)]
        writes = int(res[0]["writes"]) + int(res[1]["writes"])
        check(writes > 100 and int(res[2]["reads"]) > 100, "too little happened: %s" % res)
        s = result(c.start_app(1, ["--segment", "kv", "--pages", str(PAGES),
                                   "--expect", str(writes), "sum"], "sum"))
        check(int(s["sum"]) == writes, "lost writes: %s" % s)
        home = stats(c, 1)
        check(home["invalidations_tx"] > 0 and home["downgrades_tx"] > 0,
              "no invalidation/downgrade at the home: %s" % home)
        for n in (1, 2, 3):
            st = stats(c, n)
            check(st["uffd_sigbus"] == 0 and st["uffd_uffd_errors"] == 0,
                  "node %d: %s" % (n, st))
        print("    writes %d, reads %d, home invalidations %d downgrades %d" % (
            writes, int(res[2]["reads"]), home["invalidations_tx"], home["downgrades_tx"]))


def test_apps_threads_on_one_page_one_request():
    """16 threads of one process fault on the same page at once: one network
    request (the leader), the rest wait for it; every increment lands."""
    with cluster() as c:
        c.start_dataplanes()
        before = stats(c, 2)
        r = result(c.start_app(2, ["--segment", "kv", "--threads", "16", "--page", "5",
                                   "threads"], "t"))
        after = stats(c, 2)
        misses = after["local_misses"] - before["local_misses"]
        faults = after["uffd_faults"] - before["uffd_faults"]
        check(r["value"] == "16" and r["increments"] == "16", "increments lost: %s" % r)
        check(misses == 1, "%d network requests for one page (%d faults)" % (misses, faults))
        # Threads that faulted while the first one's request was in flight
        # were followers (not every thread faults: some find it mapped).
        check(after["coalesced"] - before["coalesced"] == faults - 1,
              "faults %d, coalesced %d" % (faults, after["coalesced"] - before["coalesced"]))
        print("    %d fault events, %d network request, %d coalesced" % (
            faults, misses, after["coalesced"] - before["coalesced"]))


def test_apps_zero_fill_minor_faults_prefetch():
    """Never-written pages read as zero without data on the wire; a second
    application on the same node maps pages already in the view as minor
    faults (no network); a sequential scan is prefetched."""
    with cluster() as c:
        c.start_dataplanes()
        result(c.start_app(3, ["--segment", "arr", "--pages", "32", "zero"], "z"))
        home = stats(c, 2)
        check(home["zero_grants"] >= 32, "no zero-fill grants at the home: %s" % home)
        before = stats(c, 3)
        result(c.start_app(3, ["--segment", "arr", "--pages", "32", "zero"], "z2"))
        after = stats(c, 3)
        check(after["uffd_faults_minor"] - before["uffd_faults_minor"] > 0 and
              after["local_misses"] == before["local_misses"],
              "second reader was not served from the view: %s -> %s" % (before, after))
        # Pages 32..255 of arr are new to node 1: a scan in order.
        b1 = stats(c, 1)
        result(c.start_app(1, ["--segment", "arr", "--pages", "256", "scan"], "scan"))
        a1 = stats(c, 1)
        hits = a1["uffd_prefetch_hits"] - b1["uffd_prefetch_hits"]
        check(a1["uffd_prefetch_issued"] > b1["uffd_prefetch_issued"] and hits > 0,
              "no prefetch: %s" % a1)
        print("    zero grants %d; minor faults %d; prefetch issued %d, hits %d" % (
            home["zero_grants"], after["uffd_faults_minor"] - before["uffd_faults_minor"],
            a1["uffd_prefetch_issued"] - b1["uffd_prefetch_issued"], hits))


def test_apps_huge_pages_2m():
    """A segment of 2 MiB pages (hugetlbfs view): writers on two nodes, a
    reader on the home, no write lost."""
    with cluster() as c:
        c.start_dataplanes()
        args = ["--segment", "big", "--pages", "4", "--seconds", "2", "rw"]
        w2 = c.start_app(2, ["--writer", "1"] + args, "w2")
        w3 = c.start_app(3, ["--writer", "2"] + args, "w3")
        r1 = c.start_app(1, ["--writer", "0"] + args, "r1")
        res = [result(p) for p in (w2, w3, r1)]
        writes = int(res[0]["writes"]) + int(res[1]["writes"])
        s = result(c.start_app(1, ["--segment", "big", "--pages", "4",
                                   "--expect", str(writes), "sum"], "sum"))
        check(writes > 2 and int(s["sum"]) == writes, "2 MiB: %s %s" % (res, s))
        # A never-written huge page whose first access is a write (no
        # ZEROPAGE for hugetlb: the zeros are copied).
        t = result(c.start_app(2, ["--segment", "big", "--threads", "4", "--page", "6",
                                   "threads"], "t"))
        check(t["value"] == "4", "write-first on a fresh 2 MiB page: %s" % t)
        print("    %d writes of 2 MiB pages; write-first on a fresh one OK" % writes)


def test_apps_sigbus_when_home_gone_others_run():
    """The home of 'far' (node 3) is killed: an application on node 2 that
    touches a page of it gets SIGBUS; another application on node 2, on a
    live segment, keeps running, and so does the dataplane."""
    with cluster() as c:
        c.start_dataplanes()
        hold = c.start_app(2, ["--segment", "kv", "--seconds", "6", "hold"], "hold")
        hold.wait_for("holding", 30)
        c.procs["dp3"].popen.send_signal(signal.SIGKILL)
        c.procs["dp3"].popen.wait(10)
        r = result(c.start_app(2, ["--segment", "far", "--page", "1", "sigbus"], "sb"), 60)
        check(r.get("sigbus") == "1", "no SIGBUS: %s" % r)
        h = result(hold, 60)
        check(int(h["reads"]) > 0, "the other application stopped: %s" % h)
        st = stats(c, 2)
        check(st["uffd_sigbus"] >= 1, "SIGBUS not counted: %s" % st)
        print("    SIGBUS delivered (%d counted); the other application read %s times" % (
            st["uffd_sigbus"], h["reads"]))


def test_apps_read_only_attach_reads_and_refuses_writes():
    """A read-only attach reads what a writer elsewhere wrote; a write
    through the same mapping, made writable with mprotect behind libdsm's
    back, is refused with SIGBUS and changes nothing."""
    with cluster() as c:
        c.start_dataplanes()
        result(c.start_app(2, ["--segment", "kv", "--writer", "2", "--pages", "8",
                               "--seconds", "1", "rw"], "w2"))
        r = result(c.start_app(3, ["--segment", "kv", "--readonly", "--pages", "8", "scan"],
                               "ro-scan"))
        check(r.get("pages") == "8", "read-only scan: %s" % r)
        before = c.telemetry(2, "/dsm/page,1,0")
        r = result(c.start_app(3, ["--segment", "kv", "--readonly", "--page", "0",
                                   "rowrite"], "ro-write"))
        check(r.get("sigbus") == "1", "a reader's write was not refused: %s" % r)
        after = c.telemetry(1, "/dsm/page,1,0")
        check(after["owner"] != 3 and after["version"] == before["cache_version"],
              "the refused write changed the page: %s -> %s" % (before, after))
        st = stats(c, 3)
        check(st["uffd_sigbus"] == 1, "SIGBUS not counted once: %s" % st["uffd_sigbus"])
        print("    read-only attach: 8 pages read, the write refused (SIGBUS)")


def test_apps_created_segment_found_by_name_elsewhere():
    """A segment created at run time on node 1 (homed there) is found by
    name from nodes 2 and 3 (learned from its home) and is coherent; its
    name cannot be taken twice."""
    with cluster() as c:
        c.start_dataplanes()
        result(c.start_app(1, ["--create", "65536", "--segment", "fresh", "--pages", "8",
                               "zero"], "create"))
        dup = c.start_app(1, ["--create", "65536", "--segment", "fresh", "zero"], "dup")
        check(dup.wait(60) == 2 and "exists" in dup.output(), "name taken twice: %s"
              % dup.output())
        args = ["--segment", "fresh", "--pages", "8", "--seconds", "2", "rw"]
        w2 = c.start_app(2, ["--writer", "1"] + args, "w2")
        w3 = c.start_app(3, ["--writer", "2"] + args, "w3")
        res = [result(p) for p in (w2, w3)]
        writes = int(res[0]["writes"]) + int(res[1]["writes"])
        s = result(c.start_app(1, ["--segment", "fresh", "--pages", "8", "--expect",
                                   str(writes), "sum"], "sum"))
        check(writes > 10 and int(s["sum"]) == writes, "created segment: %s %s" % (res, s))
        # Destroy: refused while attached, and to a node that did not
        # create it; then the name is gone.
        hold = c.start_app(1, ["--segment", "fresh", "--seconds", "3", "hold"], "hold")
        hold.wait_for("holding", 30)
        d = result(c.start_app(1, ["--segment", "fresh", "destroy"], "d1"))
        check(d["destroy"] == "-16", "destroy while attached: %s" % d)
        result(hold, 60)
        d = result(c.start_app(2, ["--segment", "fresh", "destroy"], "d2"))
        check(d["destroy"] == "-1", "destroy by a node that did not create it: %s" % d)
        d = result(c.start_app(1, ["--segment", "fresh", "destroy"], "d3"))
        check(d["destroy"] == "0", "destroy: %s" % d)
        gone = c.start_app(1, ["--segment", "fresh", "zero"], "gone")
        check(gone.wait(60) == 2 and "no such segment" in gone.output(), gone.output())
        print("    %d writes from nodes 2 and 3 on a segment created on node 1; destroy "
              "refused while attached (EBUSY) and elsewhere (EPERM), then done" % writes)


def test_apps_examples_stencil_and_pingpong():
    """The example workloads on three dataplanes: a parallel stencil whose
    shared result must be bit-identical to a single-node run, and two nodes
    writing one page alternately (every token and payload checked)."""
    segs = SEGMENTS + [(5, "array", "8M", 2), (6, "pingpong", "64K", 3)]
    with Cluster(BUILD, tag="dsmapp", clients=(), segments=segs, sockets=True,
                 tuning=TUNING) as c:
        c.start_dataplanes()

        def run(prog, node, args):
            argv = [os.path.join(BUILD, "examples", prog), "--socket", c.socket_path(node)]
            return Proc("%s%d" % (prog, node), argv + args, c.workdir, None)

        st = [run("dsm-stencil", n, ["--rank", str(n - 1), "--nodes", "3",
                                     "--iterations", "10"]) for n in (1, 2, 3)]
        for p in st:
            check(p.wait(300) == 0, "%s failed:\n%s%s" % (p.name, p.output()[-1500:],
                                                          p.errors()[-1500:]))
        check("bit-identical" in st[0].output(), "stencil not verified:\n" + st[0].output())
        pp = [run("dsm-pingpong", n, ["--rank", str(n - 1), "--iterations", "300"])
              for n in (1, 2)]
        for p in pp:
            check(p.wait(300) == 0, "%s failed:\n%s%s" % (p.name, p.output()[-1500:],
                                                          p.errors()[-1500:]))
        print("    " + [l for l in st[0].output().splitlines() if "per iteration" in l][0].strip())
        print("    " + [l for l in pp[0].output().splitlines() if "round trip " in l][0].strip())


# ---- bad input on the control socket ------------------------------------

MSG = struct.Struct("<IHHQihH32sIHHIIQQQII24s")   # struct dsm_ctl_msg, 128 bytes
MAGIC, VERSION = 0x434D5344, 1
OPS = {"hello": 1, "create": 2, "destroy": 3, "info": 4, "attach": 5, "register": 6,
       "detach": 7}


def ctl(sock, op, name=b"", addr=0, length=0, prot=0, fd=None, magic=MAGIC,
        version=VERSION, seg_id=0):
    m = MSG.pack(magic, version, op, 7, 0, 0, 0, name, seg_id, 0, 0, 0, 0, 0,
                 addr, length, prot, 0, b"")
    if fd is None:
        sock.send(m)
    else:
        sock.sendmsg([m], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
    return reply(sock)


def reply(sock):
    data, anc, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(4))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            os.close(struct.unpack("i", payload[:4])[0])
    check(len(data) == 128, "reply of %d bytes" % len(data))
    return MSG.unpack(data)[4]


def userfaultfd():
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK)   # __NR_userfaultfd
    check(fd >= 0, "userfaultfd: errno %d" % ctypes.get_errno())
    return fd


def test_apps_bad_input_on_control_socket():
    """Garbage, another protocol version, unknown ops, a missing segment, a
    descriptor that is not a userfaultfd, none at all, a mapping beyond the
    segment's end: each gets its error reply, the connection stays usable,
    and an application running meanwhile is not disturbed."""
    with cluster() as c:
        c.start_dataplanes()
        hold = c.start_app(1, ["--segment", "kv", "--seconds", "5", "hold"], "hold")
        hold.wait_for("holding", 30)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(10)
        s.connect(c.socket_path(1))
        s.send(b"\xde\xad" * 10)
        check(reply(s) == -71, "garbage not refused with EPROTO")
        check(ctl(s, 1, magic=0x1234) == -71, "bad magic")
        check(ctl(s, 1, version=9) == -93, "other version")
        check(ctl(s, 42) == -95, "unknown op")
        check(ctl(s, OPS["info"], b"nosuch") == -2, "missing segment")
        check(ctl(s, OPS["attach"], b"nosuch", prot=1) == -2, "attach missing")
        check(ctl(s, OPS["attach"], b"kv", prot=4) == -13, "attach with bad prot")
        r, w = os.pipe()
        check(ctl(s, OPS["register"], seg_id=1, addr=0x10000000, length=4096, prot=3,
                  fd=r) == -9, "a pipe taken for a userfaultfd")
        os.close(r)
        os.close(w)
        check(ctl(s, OPS["register"], seg_id=1, addr=0x10000000, length=4096, prot=3) == -9,
              "register without a descriptor")
        uffd = userfaultfd()
        size = (PAGES + 1) * 4096
        check(ctl(s, OPS["register"], seg_id=1, addr=0x10000000, length=size * 2, prot=3,
                  fd=uffd) == -22, "a mapping beyond the segment's end")
        os.close(uffd)
        check(ctl(s, OPS["hello"]) == 0, "the connection is unusable after bad input")
        s.close()
        st = stats(c, 1)
        check(st["ctl_malformed"] == 4 and st["ctl_errors"] == 10,
              "bad requests not counted: %s" % {k: v for k, v in st.items() if k.startswith("ctl")})
        h = result(hold, 60)
        check(int(h["reads"]) > 0, "the application was disturbed: %s" % h)
        print("    every bad request refused with its errno; the application read %s times"
              % h["reads"])


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]


if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv, globals()))
