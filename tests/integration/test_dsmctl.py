#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""dsmctl against a real etcd, with the layers below it simulated.

    tests/integration/test_dsmctl.py BUILD_DIR [test-name ...]

Each test starts its own etcd (`etcd` from PATH, or $DSM_ETCD_BIN, as the
control-plane live tests do) with a temporary data dir on free loopback
ports, and stops it by pid.  What the nodes would write (epoch, members,
node records, workload statuses) the test writes itself through etcd's JSON
gateway, and nodes' telemetry sockets are small SOCK_SEQPACKET servers of
the test's own: this tests dsmctl, the layer above.  Real dataplanes and
supervisors are tested end to end elsewhere.

Prints one PASS/FAIL line per test and "N passed, N failed"; exits
non-zero on any failure.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from dsmcluster import Etcd, free_ports, wait_until  # noqa: E402
from harness import check, run_tests  # noqa: E402

BUILD = None
CLUSTER = "t"
P = "/dsm/%s/" % CLUSTER


# ----------------------------------------------------- fake telemetry

class Telemetry:
    """A DPDK telemetry v2 socket: hello, then one JSON answer per command.
    answers maps a command without parameters to a function of the
    parameter string (or to a value); anything else answers null."""

    def __init__(self, path, answers):
        self.path = path
        self.answers = answers
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, cmd):
        name, _, params = cmd.partition(",")
        a = self.answers.get(name)
        return {name: a(params) if callable(a) else a}

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.send(json.dumps({"version": "DPDK 22.11.4", "pid": os.getpid(),
                                          "max_output_len": 16384}).encode())
                    cmd = conn.recv(1024).decode()
                    if cmd:
                        conn.send(json.dumps(self._answer(cmd)).encode())
                except OSError:
                    pass

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


# ------------------------------------------------------------- fixture

class Env:
    """One etcd, telemetry servers, and a way to run dsmctl against them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dsmctl-it-")
        self.etcd = Etcd(self.dir).start()
        self.tels = []
        self.procs = []

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in self.tels:
            t.stop()
        self.etcd.stop()
        if not os.environ.get("DSM_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def argv(self, args, etcd=None):
        return [os.path.join(BUILD, "control", "dsmctl", "dsmctl"),
                "--etcd", etcd or self.etcd.url, "--cluster", CLUSTER] + list(args)

    def run(self, *args, etcd=None, timeout=60):
        p = subprocess.run(self.argv(args, etcd), capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def start(self, *args):
        p = subprocess.Popen(self.argv(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def telemetry(self, node, answers):
        path = os.path.join(self.dir, "tel%d.sock" % node)
        self.tels.append(Telemetry(path, answers))
        return path

    # What the nodes would write.
    def view(self, epoch, members):
        self.etcd.put(P + "epoch", {"epoch": str(epoch),
                                    "members": [[n, str(i)] for n, i in members]})
        for n, i in members:
            self.etcd.put(P + "members/%d" % n, {"node": n, "incarnation": str(i)})

    def record(self, node, inc, telemetry="", host=None, pid=1000):
        self.etcd.put(P + "nodes/%d" % node, {
            "node": node, "incarnation": str(inc), "host": host or socket.gethostname(),
            "pid": pid, "socket": "", "telemetry": telemetry,
            "started_ms": "1700000000000", "draining": False})

    def status(self, name, **kv):
        kv.setdefault("name", name)
        self.etcd.put(P + "workloads/%s/status" % name, kv)

    def spec(self, name):
        return self.etcd.get_json(P + "workloads/%s/spec" % name)

    def wait_spec(self, name, gen, timeout=20):
        return wait_until(lambda: (self.spec(name) or {}).get("gen") == gen and self.spec(name),
                          timeout, "spec of %s at gen %d" % (name, gen))


def finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def expect_error(res, code, text, what):
    rc, out, err = res
    check(rc == code, "%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
          % (what, rc, code, out, err))
    lines = err.strip().splitlines()
    check(len(lines) >= 1 and lines[-1].startswith("dsmctl: ") and text in lines[-1],
          "%s: expected one 'dsmctl: ...%s...' line, got: %r" % (what, text, err))


def three_nodes(env, drained=()):
    env.view(4, [(1, 11), (2, 22), (3, 33)])
    for n, i in ((1, 11), (2, 22), (3, 33)):
        env.record(n, i)
    for n in drained:
        env.etcd.put(P + "drain/%d" % n, {"since_ms": 1})


# ---------------------------------------------------------------- tests

def test_usage_errors():
    """Bad arguments: exit 2 and one clear line, before any etcd access
    (the endpoint below has nothing listening)."""
    with Env() as env:
        cases = [
            ((), "missing command"),
            (("bogus",), "unknown command 'bogus'"),
            (("run", "--node", "2"), "missing command after --"),
            (("run", "--node", "2", "--"), "missing command after --"),
            (("run", "--", "/bin/true"), "--node N is required"),
            (("run", "--node", "0", "--", "/bin/true"), "bad node id '0'"),
            (("run", "--node", "64", "--", "/bin/true"), "bad node id '64'"),
            (("run", "--node", "2", "--env", "=x", "--", "/bin/true"), "bad --env"),
            (("run", "--node", "2", "--name", "a/b", "--", "/bin/true"), "bad workload name"),
            (("run", "--node", "2", "--", "no-such-command-xyz"), "command not found"),
            (("run", "--node", "2", "--", "/usr"), "command not found: /usr"),
            (("migrate", "w"), "--to N is required"),
            (("migrate", "--to", "2"), "missing argument"),
            (("page", "1"), "missing argument"),
            (("page", "1", "x"), "bad page number 'x'"),
            (("stats", "--to", "3"), "stats does not take option '--to'"),
            (("nodes", "extra"), "unexpected argument 'extra'"),
            (("nodes", "--cluster", "x"), "global option"),
            (("--timeout", "0", "nodes"), "bad --timeout"),
            (("drain", "x"), "bad node id 'x'"),
            (("--bogus", "nodes"), "unknown option '--bogus'"),
        ]
        dead = "http://127.0.0.1:%d" % free_ports(1)[0]
        for args, text in cases:
            expect_error(env.run(*args, etcd=dead), 2, text, " ".join(args))
        expect_error(env.run("nodes", etcd="nonsense"), 2, "bad --etcd", "bad --etcd")
        rc, out, err = env.run("--help")
        check(rc == 0 and "Exit codes" in out and "drain N" in out and not err,
              "--help: %d %s %s" % (rc, out, err))


def test_etcd_unreachable():
    """Nothing listens at the endpoint: exit 4, saying so, for every
    command that needs etcd."""
    with Env() as env:
        dead = "http://127.0.0.1:%d" % free_ports(1)[0]
        for args in (("nodes",), ("segments",), ("stats",), ("page", "1", "0"),
                     ("workloads",), ("run", "--node", "1", "--", "/bin/true"),
                     ("migrate", "w", "--to", "2"), ("stop", "w"), ("drain", "1"),
                     ("undrain", "1")):
            expect_error(env.run(*args, etcd=dead), 4, "etcd unreachable at " + dead,
                         " ".join(args))
        # DSM_ETCD is the default endpoint.
        p = subprocess.run([os.path.join(BUILD, "control", "dsmctl", "dsmctl"), "nodes"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, DSM_ETCD=dead))
        expect_error((p.returncode, p.stdout, p.stderr), 4, dead, "DSM_ETCD")


def test_empty_cluster():
    """A cluster nobody joined: nodes, segments, workloads say so, exit 0."""
    with Env() as env:
        rc, out, err = env.run("nodes")
        check(rc == 0 and "no view yet" in out and "no nodes" in out and not err,
              "nodes: %d %r %r" % (rc, out, err))
        rc, out, err = env.run("--json", "nodes")
        check(rc == 0 and json.loads(out) == {"epoch": 0, "members": [], "nodes": []},
              "nodes --json: %d %r %r" % (rc, out, err))
        rc, out, _ = env.run("workloads")
        check(rc == 0 and out.strip() == "no workloads", "workloads: %r" % out)
        rc, out, _ = env.run("workloads", "--json")
        check(rc == 0 and json.loads(out) == {"workloads": []}, "workloads --json: %r" % out)
        rc, out, _ = env.run("segments")
        check(rc == 0 and out.strip() == "no segments", "segments: %r" % out)


def test_nodes_table_and_json():
    """View, registrations, records, drain marks and what each local node's
    telemetry says it applied; a restarted node is not in the view yet."""
    with Env() as env:
        env.view(7, [(1, 11), (2, 22), (3, 33)])
        tel1 = env.telemetry(1, {"/dsm/membership": {"epoch": 7, "incarnation": 11,
                                                     "fenced": 0, "members": [1, 2, 3]}})
        tel3 = env.telemetry(3, {"/dsm/membership": {"epoch": 6, "incarnation": 33,
                                                     "fenced": 1, "members": [1, 3]}})
        env.record(1, 11, tel1, pid=101)
        env.record(2, 23, "", pid=102)            # restarted: new incarnation
        env.record(3, 33, tel3, pid=103)
        env.record(4, 44, "/nonexistent/sock", host="elsewhere", pid=104)
        env.etcd.delete(P + "members/3")           # lease gone, view not changed yet
        env.etcd.put(P + "members/2", {"node": 2, "incarnation": "23"})
        env.etcd.put(P + "drain/2", {"since_ms": 5})
        rc, out, err = env.run("nodes")
        check(rc == 0 and not err, "nodes: %d %r" % (rc, err))
        lines = out.splitlines()
        check(lines[0] == "epoch 7, 3 member(s)", "header: %r" % lines[0])
        rows = {int(l.split()[0]): l.split() for l in lines[2:]}
        check(lines[1].split() == ["NODE", "INCARNATION", "IN-VIEW", "LIVE", "HOST", "PID",
                                   "DRAINING", "EPOCH", "FENCED"], "heads: %r" % lines[1])
        host = socket.gethostname()
        check(rows[1] == ["1", "11", "yes", "yes", host, "101", "no", "7", "no"], "1: %r" % rows[1])
        check(rows[2] == ["2", "23", "no", "yes", host, "102", "yes", "-", "-"], "2: %r" % rows[2])
        check(rows[3] == ["3", "33", "yes", "no", host, "103", "no", "6", "yes"], "3: %r" % rows[3])
        check(rows[4] == ["4", "44", "no", "no", "elsewhere", "104", "no", "-", "-"],
              "4: %r" % rows[4])
        rc, out, _ = env.run("--json", "nodes")
        j = json.loads(out)
        check(j["epoch"] == 7 and j["members"] == [[1, 11], [2, 22], [3, 33]], "json: %r" % j)
        n = {x["node"]: x for x in j["nodes"]}
        check(n[1]["epoch"] == 7 and n[1]["fenced"] is False and n[1]["in_view"] is True,
              "json 1: %r" % n[1])
        check(n[2]["draining"] is True and n[2]["epoch"] is None and n[2]["in_view"] is False,
              "json 2: %r" % n[2])
        check(n[3]["fenced"] is True and n[3]["live"] is False, "json 3: %r" % n[3])


SEGS1 = {"kv": {"id": 1, "home": 1, "size": 65536, "page_size": 4096, "pages": 16,
                "prot": "rw"},
         "ro": {"id": 2, "home": 2, "size": 8192, "page_size": 4096, "pages": 2, "prot": "r"}}
SEGS2 = {"ro": SEGS1["ro"], "big": {"id": 9, "home": 2, "size": 2097152,
                                    "page_size": 2097152, "pages": 1, "prot": "rw"}}
STATS1 = {"node": 1, "epoch": 4, "local_hits": 100, "local_misses": 7, "installs": 5,
          "grants_tx": 9, "zero_grants": 2, "nodata_grants": 1, "uffd_remote_p50_ns": 12345,
          "uffd_remote_p99_ns": 99000, "drops": 3, "drop_epoch": 2, "drop_csum": 1,
          "drop_nobuf": 0}
STATS2 = {"node": 2, "local_hits": 1, "local_misses": 2, "installs": 3, "grants_tx": 0}


def page_answer(node, home):
    def answer(params):
        seg, pgno = (int(x) for x in params.split(","))
        if pgno >= 16:
            return {"error": "Numerical result out of range"}
        e = {"seg": seg, "pgno": pgno, "is_home": int(node == home),
             "cache_state": "exclusive" if node == 2 else "invalid",
             "cache_version": 7 if node == 2 else 0, "pending": 0, "waiters": 0}
        if node == home:
            e.update(dir_state="exclusive", owner=2, sharers=0b1100, version=7, written=1,
                     busy=0, lost=0)
        return e
    return answer


def telemetry_nodes(env, segstats=True):
    three_nodes(env)
    a1 = {"/dsm/segments": SEGS1, "/dsm/stats": STATS1, "/dsm/page": page_answer(1, 1)}
    a2 = {"/dsm/segments": SEGS2, "/dsm/stats": STATS2, "/dsm/page": page_answer(2, 1)}
    if segstats:
        a1["/dsm/segstats"] = {"1": {"name": "kv", "faults": 50, "remote": 5, "pages_in": 4,
                                     "pages_out": 6, "lost": 0}}
        a2["/dsm/segstats"] = {"2": {"name": "ro", "faults": 8, "remote": 1, "pages_in": 1,
                                     "pages_out": 0, "lost": 1}}
    env.record(1, 11, env.telemetry(1, a1))
    env.record(2, 22, env.telemetry(2, a2))
    # node 3's socket is gone: reported, the others still shown.
    env.record(3, 33, os.path.join(env.dir, "gone.sock"))


def test_segments_merged():
    """Segments of every local node, merged by id, with who knows them."""
    with Env() as env:
        telemetry_nodes(env)
        rc, out, err = env.run("segments")
        check(rc == 0, "segments: %d %r" % (rc, err))
        check("dsmctl: warning: node 3: telemetry" in err, "no warning for node 3: %r" % err)
        rows = [l.split() for l in out.splitlines()]
        check(rows[0] == ["ID", "NAME", "HOME", "SIZE", "PAGE-SIZE", "PROT", "NODES"], "%r" % rows)
        check(rows[1:] == [["1", "kv", "1", "65536", "4096", "rw", "1"],
                           ["2", "ro", "2", "8192", "4096", "r", "1,2"],
                           ["9", "big", "2", "2097152", "2097152", "rw", "2"]], "%r" % rows)
        rc, out, _ = env.run("--json", "segments")
        segs = json.loads(out)["segments"]
        check([s["id"] for s in segs] == [1, 2, 9] and segs[1]["nodes"] == [1, 2], "%r" % segs)


def test_stats_nodes_and_segments():
    """Per-node figures from /dsm/stats and per-segment from /dsm/segstats;
    --node and --segment filter, unknown ones are exit 3."""
    with Env() as env:
        telemetry_nodes(env)
        rc, out, err = env.run("--json", "stats")
        check(rc == 0, "stats: %d %r" % (rc, err))
        j = json.loads(out)
        n1 = [n for n in j["nodes"] if n["node"] == 1][0]
        check(n1 == {"node": 1, "faults_local": 100, "faults_remote": 7, "pages_in": 5,
                     "pages_out": 6, "p50_ns": 12345, "p99_ns": 99000,
                     "drops": {"epoch": 2, "csum": 1}}, "node 1: %r" % n1)
        check(len(j["segments"]) == 2, "segments: %r" % j["segments"])
        rc, out, _ = env.run("stats")
        check("12.3" in out and "99.0" in out and "csum=1,epoch=2" in out.replace(
            "epoch=2,csum=1", "csum=1,epoch=2"), "table: %r" % out)
        check("PAGES-OUT" in out and "LOST" in out, "table heads: %r" % out)
        rc, out, _ = env.run("--json", "stats", "--node", "2")
        j = json.loads(out)
        check([n["node"] for n in j["nodes"]] == [2] and j["nodes"][0]["p50_ns"] is None,
              "--node 2: %r" % j)
        for s in ("ro", "2"):
            rc, out, _ = env.run("--json", "stats", "--segment", s)
            j = json.loads(out)
            check(rc == 0 and [x["seg"] for x in j["segments"]] == [2], "--segment %s: %r" % (s, j))
        # Known by /dsm/segments but without counters anywhere: still known.
        rc, out, _ = env.run("stats", "--segment", "big")
        check(rc == 0, "--segment big: %d" % rc)
        expect_error(env.run("stats", "--segment", "nosuch"), 3, "unknown segment 'nosuch'",
                     "unknown segment")
        expect_error(env.run("stats", "--node", "9"), 3, "unknown node 9", "unknown node")
        expect_error(env.run("stats", "--node", "3"), 1, "node 3 did not answer", "dead node")


def test_stats_without_segstats():
    """A node without /dsm/segstats: its node figures, and a warning."""
    with Env() as env:
        telemetry_nodes(env, segstats=False)
        rc, out, err = env.run("stats")
        check(rc == 0 and "no /dsm/segstats" in err and "FAULTS-LOCAL" in out,
              "stats: %d %r %r" % (rc, out, err))


def test_page_across_nodes():
    """The home's directory entry and every node's cache state; by name
    or id; out of range and unknown segments are exit 3."""
    with Env() as env:
        telemetry_nodes(env)
        rc, out, err = env.run("page", "kv", "5")
        check(rc == 0, "page: %d %r" % (rc, err))
        lines = out.splitlines()
        check(lines[0] == "segment 1 (kv) page 5, home node 1", "%r" % lines[0])
        check(lines[1] == "directory: exclusive, owner 2, sharers 2,3, version 7, lost no",
              "%r" % lines[1])
        rows = [l.split() for l in lines[2:]]
        check(rows[0] == ["NODE", "HOME", "CACHE", "VERSION", "PENDING", "WAITERS"], "%r" % rows)
        check(rows[1] == ["1", "yes", "invalid", "0", "0", "0"] and
              rows[2] == ["2", "no", "exclusive", "7", "0", "0"], "%r" % rows)
        rc, out, _ = env.run("--json", "page", "1", "5")
        j = json.loads(out)
        check(j["seg"] == 1 and j["home"] == 1 and j["nodes"]["1"]["dir_state"] == "exclusive"
              and j["nodes"]["3"] is None, "%r" % j)
        expect_error(env.run("page", "kv", "99"), 3, "out of range", "page out of range")
        expect_error(env.run("page", "nosuch", "0"), 3, "unknown segment 'nosuch'", "unknown seg")


def test_run_waits_until_running():
    """run writes generation 1 create-only, with CMD made absolute, and
    returns when the status says running; a second run of W fails."""
    with Env() as env:
        three_nodes(env)
        p = env.start("run", "--node", "2", "--name", "w1", "--env", "A=1", "--env", "B=x=y",
                      "--", "sleep", "100")
        spec = env.wait_spec("w1", 1)
        check(spec == {"name": "w1", "argv": [os.path.realpath(shutil.which("sleep")), "100"],
                       "node": 2, "gen": 1, "env": {"A": "1", "B": "x=y"}}, "spec: %r" % spec)
        env.status("w1", gen=1, node=2, state="starting")
        env.status("w1", gen="1", node=2, state="running", pid="4242", start_ms="1700000000000")
        rc, out, err = finish(p)
        check(rc == 0 and out == "started w1 on node 2, pid 4242\n" and not err,
              "run: %d %r %r" % (rc, out, err))
        expect_error(env.run("run", "--node", "3", "--name", "w1", "--", "/bin/true"), 1,
                     "workload w1 already exists (node 2, gen 1)", "exists")
        check(env.spec("w1")["node"] == 2, "spec overwritten")
        # --json, and the name taken from the command.
        p = env.start("--json", "run", "--node", "1", "--", "/bin/true", "-x")
        env.wait_spec("true", 1)
        env.status("true", gen=1, node=1, state="running", pid=7)
        rc, out, err = finish(p)
        check(rc == 0 and json.loads(out) == {"name": "true", "node": 1, "gen": 1, "pid": 7},
              "run --json: %d %r %r" % (rc, out, err))


def test_run_failures():
    """A start that fails or exits, a timeout, and the nodes run refuses."""
    with Env() as env:
        three_nodes(env, drained=(3,))
        env.record(5, 55)                     # has a record, not in the view
        p = env.start("run", "--node", "2", "--name", "w2", "--", "/bin/true")
        env.wait_spec("w2", 1)
        env.status("w2", gen=1, node=2, state="failed", error="exec: Permission denied")
        expect_error(finish(p), 1, "workload w2 failed on node 2: exec: Permission denied",
                     "failed")
        p = env.start("run", "--node", "2", "--name", "w3", "--", "/bin/true")
        env.wait_spec("w3", 1)
        env.status("w3", gen=1, node=2, state="exited", exit=3)
        expect_error(finish(p), 1, "workload w3 exited with status 3 on node 2", "exited")
        t0 = time.monotonic()
        res = env.run("--timeout", "1", "run", "--node", "1", "--name", "w4", "--", "/bin/true")
        expect_error(res, 1, "timed out after 1 s waiting for w4 on node 1: no status yet",
                     "timeout")
        check(time.monotonic() - t0 < 10, "timeout took %.1f s" % (time.monotonic() - t0))
        expect_error(env.run("run", "--node", "3", "--", "/bin/true"), 1, "node 3 is drained",
                     "drained")
        expect_error(env.run("run", "--node", "5", "--", "/bin/true"), 1,
                     "node 5 is not in the current view", "not in view")
        expect_error(env.run("run", "--node", "9", "--", "/bin/true"), 3, "unknown node 9",
                     "unknown")
        check(env.spec("true") is None, "a refused run wrote a spec")


def migration_statuses(env, name, src, dst, gen, ws_pages=10, start=1700000001000):
    """What the two supervisors write during a migration (int64 as strings
    in some, as the gateway would)."""
    env.status(name, gen=gen - 1, node=src, state="stopping", pid=100)
    env.status(name, gen=gen - 1, node=src, state="stopping", pid=100)     # repeated
    env.status(name, gen=str(gen - 1), node=src, state="stopped", stop_ms=start - 12)
    env.status(name, gen=gen, node=dst, state="starting")
    env.status(name, gen=gen, node=dst, state="running", pid=200, start_ms=str(start),
               downtime_ms=12)
    if ws_pages == 0:
        env.status(name, gen=gen, node=dst, state="running", pid=200, start_ms=start,
                   downtime_ms=12, ws_pages=0, ws_moved=0)
        return
    env.status(name, gen=gen, node=dst, state="running", pid=200, start_ms=start,
               downtime_ms=12, ws_pages=ws_pages, ws_moved=3)
    env.status(name, gen=gen, node=dst, state="running", pid=200, start_ms=start,
               downtime_ms=12, ws_pages=ws_pages, ws_moved=3)                # repeated
    env.status(name, gen=gen, node=dst, state="running", pid=200, start_ms=start,
               downtime_ms=12, ws_pages=str(ws_pages), ws_moved=ws_pages,
               ws_done_ms=str(start + 40))


def make_workload(env, name, node, gen=1):
    env.etcd.put(P + "workloads/%s/spec" % name, {"name": name, "argv": ["/bin/sleep", "9"],
                                                   "node": node, "gen": gen, "env": {},
                                                   "extra": "kept"})
    env.status(name, gen=gen, node=node, state="running", pid=100)


def test_migrate_progress():
    """Progress lines in order, each once, from the statuses; the new spec
    keeps unknown keys; exit 0 once the working set is all there."""
    with Env() as env:
        three_nodes(env)
        make_workload(env, "m1", 1)
        p = env.start("migrate", "m1", "--to", "2")
        spec = env.wait_spec("m1", 2)
        check(spec["node"] == 2 and spec["extra"] == "kept" and spec["argv"] == ["/bin/sleep", "9"],
              "spec: %r" % spec)
        migration_statuses(env, "m1", 1, 2, 2)
        rc, out, err = finish(p)
        check(rc == 0 and not err, "migrate: %d %r %r" % (rc, out, err))
        lines = out.splitlines()
        want = ["migrating m1 from node 1 to node 2 (gen 2)",
                "m1: stopping on node 1",
                "m1: stopped at safe point on node 1",
                "m1: starting on node 2",
                "m1: running on node 2, pid 200 (downtime 12 ms)",
                "m1: working set 3/10 pages",
                "m1: working set 10/10 pages"]
        check(lines[:-1] == want, "lines:\n%s" % out)
        check(lines[-1].startswith("m1: done in ") and
              lines[-1].endswith(" ms (downtime 12 ms, working set 10 pages in 40 ms)"),
              "last line: %r" % lines[-1])
        # --json: one object; an empty working set is done at once.
        p = env.start("--json", "migrate", "m1", "--to", "3")
        env.wait_spec("m1", 3)
        migration_statuses(env, "m1", 2, 3, 3, ws_pages=0)
        rc, out, err = finish(p)
        j = json.loads(out)
        check(rc == 0 and j["name"] == "m1" and j["from"] == 2 and j["to"] == 3 and
              j["gen"] == 3 and j["downtime_ms"] == 12 and j["ws_pages"] == 0 and
              j["ws_ms"] == 0 and j["pid"] == 200 and "total_ms" in j,
              "migrate --json: %d %r %r" % (rc, out, err))
        p = env.start("migrate", "m1", "--to", "1", "--json")
        env.wait_spec("m1", 4)
        migration_statuses(env, "m1", 3, 1, 4)
        rc, out, _ = finish(p)
        j = json.loads(out)
        check(rc == 0 and j["ws_pages"] == 10 and j["ws_ms"] == 40, "json: %r" % out)


def test_migrate_errors():
    """--no-wait, and every way a migration is refused or fails."""
    with Env() as env:
        three_nodes(env, drained=(3,))
        env.record(5, 55)
        make_workload(env, "m2", 1)
        rc, out, err = env.run("migrate", "m2", "--to", "2", "--no-wait")
        check(rc == 0 and out == "migrating m2 from node 1 to node 2 (gen 2)\n",
              "--no-wait: %d %r %r" % (rc, out, err))
        check(env.spec("m2")["gen"] == 2, "spec not moved")
        expect_error(env.run("migrate", "m2", "--to", "2"), 1, "on node 2 already", "same node")
        expect_error(env.run("migrate", "m2", "--to", "3"), 1, "node 3 is drained", "drained")
        expect_error(env.run("migrate", "m2", "--to", "5"), 1, "not in the current view", "view")
        expect_error(env.run("migrate", "m2", "--to", "9"), 3, "unknown node 9", "unknown node")
        expect_error(env.run("migrate", "nope", "--to", "1"), 3, "unknown workload nope", "nope")
        expect_error(env.run("stop", "nope"), 3, "unknown workload nope", "stop nope")
        # Fails on the target.
        p = env.start("migrate", "m2", "--to", "1")
        env.wait_spec("m2", 3)
        env.status("m2", gen=2, node=2, state="stopped")
        env.status("m2", gen=3, node=1, state="failed", error="no such segment")
        expect_error(finish(p), 1, "workload m2 failed on node 1: no such segment", "fails")
        # Someone else moves it while we wait.
        p = env.start("migrate", "m2", "--to", "2")
        spec = env.wait_spec("m2", 4)
        spec.update(gen=5, node=1)
        env.etcd.put(P + "workloads/m2/spec", spec)
        expect_error(finish(p), 1, "changed by someone else (generation 5, expected 4)", "race")
        # Stopped (spec deleted) while we wait.
        p = env.start("migrate", "m2", "--to", "2")
        env.wait_spec("m2", 6)
        rc, out, err = env.run("stop", "m2")
        check(rc == 0 and env.spec("m2") is None, "stop: %d %r %r" % (rc, out, err))
        expect_error(finish(p), 1, "m2 was stopped", "stopped")
        # Times out.
        make_workload(env, "m3", 1)
        expect_error(env.run("--timeout", "1", "migrate", "m3", "--to", "2"), 1,
                     "timed out after 1 s waiting for m3 on node 2", "timeout")


class Evacuation:
    """A member's side of drain's page copy: /dsm/evacuate,N starts it,
    and /dsm/evacuation shows it done after `steps` looks (what
    dataplane/runtime/evacuate.c answers).  error: what /dsm/evacuate
    answers instead; other: the node its progress is about instead of N."""

    def __init__(self, heir=False, pages=10, steps=3, failed=0, lost=0, error=None,
                 other=None):
        self.heir, self.pages, self.steps = heir, pages, steps
        self.failed, self.lost, self.error, self.other = failed, lost, error, other
        self.started = []
        self.looks = 0

    def evacuate(self, params):
        if self.error:
            return {"error": self.error}
        self.started.append(int(params))
        self.looks = 0
        return {"node": int(params), "heir": int(self.heir), "segments": 1}

    def evacuation(self, _params):
        node = self.other or (self.started[-1] if self.started else 0)
        self.looks += 1
        if self.steps < 0:
            done = self.pages // 2          # stuck halfway
        else:
            done = min(self.pages, self.pages * self.looks // max(self.steps, 1))
        bad = self.failed + self.lost if done == self.pages else 0
        # int64 as strings in some, as telemetry of big counters may be.
        return {"node": node, "active": int(done < self.pages),
                "heir": int(self.heir), "segments": 1, "pages": str(self.pages),
                "done": done, "copied": done - bad, "lost": self.lost if bad else 0,
                "failed": self.failed if bad else 0}

    def answers(self):
        return {"/dsm/evacuate": self.evacuate, "/dsm/evacuation": self.evacuation}


def evac_nodes(env, evacs, drained=1):
    """View 1..4 (node `drained` first), a record for every node, the
    Evacuation of each other node on its telemetry socket."""
    env.view(9, [(1, 1), (2, 2), (3, 3), (4, 4)])
    env.record(drained, drained)
    for n, ev in evacs.items():
        env.record(n, n, env.telemetry(n, ev.answers()))


def test_drain_round_robin():
    """drain marks the node and moves its workloads round robin over the
    other in-view, undrained nodes, lowest id first, then has every other
    member copy its pages and shows their progress; undrain undoes it."""
    with Env() as env:
        evacs = {2: Evacuation(heir=True, pages=40), 3: Evacuation(pages=10),
                 4: Evacuation(pages=10, steps=1)}
        evac_nodes(env, evacs)
        env.etcd.put(P + "drain/3", {"since_ms": 1})
        for name, node in (("a", 1), ("b", 1), ("c", 1), ("d", 2)):
            make_workload(env, name, node)
        p = env.start("drain", "1")
        targets = {}
        for name in ("a", "b", "c"):
            targets[name] = env.wait_spec(name, 2)["node"]
        check(targets == {"a": 2, "b": 4, "c": 2}, "targets: %r" % targets)
        check(env.spec("d")["gen"] == 1, "d moved")
        mark = env.etcd.get_json(P + "drain/1")
        check(mark and mark["since_ms"] > 1600000000000, "drain mark: %r" % mark)
        for name in ("a", "b", "c"):
            migration_statuses(env, name, 1, targets[name], 2, ws_pages=0)
        rc, out, err = finish(p)
        check(rc == 0 and not err, "drain: %d %r %r" % (rc, out, err))
        for name in ("a", "b", "c"):
            check("moving %s from node 1 to node %d (gen 2)" % (name, targets[name]) in out and
                  "%s: done in " % name in out, "%s missing in:\n%s" % (name, out))
        # The pages only once the workloads are gone; drained nodes copy too.
        check(all(ev.started == [1] for ev in evacs.values()), "evacuations started: %r" % {
            n: ev.started for n, ev in evacs.items()})
        lines = out.splitlines()
        check(lines.index("pages of node 1: 60/60 looked at, 60 copied") >
              max(i for i, l in enumerate(lines) if ": done in " in l), "%r" % out)
        check(lines[-1] == "node 1 drained: 3 workload(s) moved, 60 page(s) copied off it "
              "(node 2 inherits its segments)", "%r" % out)
        expect_error(env.run("run", "--node", "1", "--", "/bin/true"), 1, "node 1 is drained",
                     "run on drained")
        # Again: no workload left, the pages looked at again; the first
        # mark's time is kept.
        rc, out, _ = env.run("--json", "drain", "1")
        check(rc == 0 and json.loads(out) == {
            "node": 1, "migrated": [], "pages": {"in_view": True, "heir": 2, "pages": 60,
                                                 "copied": 60, "lost": 0, "failed": 0}},
            "again: %r" % out)
        check(env.etcd.get_json(P + "drain/1") == mark, "mark rewritten")
        rc, out, _ = env.run("undrain", "1")
        check(rc == 0 and env.etcd.get(P + "drain/1") is None, "undrain: %r" % out)
        expect_error(env.run("undrain", "1"), 3, "node 1 is not drained", "undrain again")
        expect_error(env.run("drain", "9"), 3, "unknown node 9", "drain unknown")
        # Nowhere to go: 4 and 2 drained, 3 drained.
        env.etcd.put(P + "drain/4", {"since_ms": 1})
        env.etcd.put(P + "drain/1", {"since_ms": 1})
        expect_error(env.run("drain", "2"), 1, "no other node of the view can take its 3",
                     "nowhere")


def test_drain_pages():
    """The page copy of drain: lost pages are reported but do not fail it,
    a node outside the view has none to copy, and every way it can fail -
    a member on another host, one that refuses, one without the command,
    pages that could not be copied, a member busy with another node, no
    end before --timeout - is one clear error and exit 1."""
    ok = {2: Evacuation(heir=True, pages=20, lost=2), 3: Evacuation(), 4: Evacuation()}
    with Env() as env:
        evac_nodes(env, ok)
        rc, out, err = env.run("drain", "1")
        check(rc == 0 and not err and out.splitlines()[-1] ==
              "node 1 drained: 0 workload(s) moved, 38 page(s) copied off it (node 2 "
              "inherits its segments); 2 page(s) were lost already", "lost: %r %r" % (out, err))
    with Env() as env:
        env.view(9, [(2, 2), (3, 3)])
        env.record(1, 1)
        rc, out, err = env.run("--json", "drain", "1")
        check(rc == 0 and json.loads(out)["pages"] == {
            "in_view": False, "heir": 0, "pages": 0, "copied": 0, "lost": 0, "failed": 0},
            "not in view: %r %r" % (out, err))
        rc, out, _ = env.run("drain", "1")
        check(out.splitlines()[-1] == "node 1 drained: 0 workload(s) moved, no pages to copy "
              "(not in the view)", "%r" % out)
    cases = [
        ({3: Evacuation(error="that node is not in this node's view")}, (),
         "node 3: could not start copying node 1's pages: that node is not in this node's view"),
        ({3: Evacuation(failed=2)}, (), "2 page(s) of node 1 could not be copied"),
        ({3: Evacuation(other=5)}, (), "node 3 is now evacuating another node"),
        ({3: Evacuation(steps=-1)}, ("--timeout", "1"),
         "timed out after 1 s copying node 1's pages: 25/30 looked at"),
    ]
    for evs, opts, text in cases:
        with Env() as env:
            evacs = {2: Evacuation(heir=True), 3: Evacuation(), 4: Evacuation()}
            evacs.update(evs)
            evac_nodes(env, evacs)
            expect_error(env.run(*(opts + ("drain", "1"))), 1, text, text)
    with Env() as env:
        evac_nodes(env, {2: Evacuation(heir=True), 4: Evacuation()})
        env.record(3, 3, env.telemetry(3, {"/dsm/stats": {}}))
        expect_error(env.run("drain", "1"), 1, "node 3 cannot copy pages (its dataplane has "
                     "no /dsm/evacuate)", "old node")
        env.record(3, 3, os.path.join(env.dir, "tel3.sock"), host="elsewhere")
        expect_error(env.run("drain", "1"), 1, "node 3's telemetry socket is not on this host",
                     "other host")


def test_workloads_listing():
    """Specs with their statuses, a move in progress, and --json as stored."""
    with Env() as env:
        make_workload(env, "x", 1)
        make_workload(env, "y", 2, gen=3)
        env.status("y", gen=2, node=1, state="stopping")
        env.status("x", gen=1, node=1, state="running", pid=77, downtime_ms=5,
                   ws_pages=10, ws_moved=4)
        rc, out, _ = env.run("workloads")
        rows = [l.split() for l in out.splitlines()]
        check(rows[0] == ["NAME", "NODE", "GEN", "STATE", "PID", "DOWNTIME-MS", "WS", "COMMAND"],
              "%r" % rows)
        check(rows[1] == ["x", "1", "1", "running", "77", "5", "4/10", "/bin/sleep", "9"],
              "x: %r" % rows[1])
        check(rows[2][:4] == ["y", "2", "3", "stopping:gen2@1"], "y: %r" % rows[2])
        rc, out, _ = env.run("--json", "workloads")
        w = json.loads(out)["workloads"]
        check([x["name"] for x in w] == ["x", "y"] and w[0]["spec"]["extra"] == "kept" and
              w[1]["status"]["state"] == "stopping", "%r" % w)


TESTS = [
    test_usage_errors,
    test_etcd_unreachable,
    test_empty_cluster,
    test_nodes_table_and_json,
    test_segments_merged,
    test_stats_nodes_and_segments,
    test_stats_without_segstats,
    test_page_across_nodes,
    test_run_waits_until_running,
    test_run_failures,
    test_migrate_progress,
    test_migrate_errors,
    test_drain_round_robin,
    test_drain_pages,
    test_workloads_listing,
]


if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv, globals()))
