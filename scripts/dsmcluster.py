#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A cluster of dsm nodes on one machine, for the demo, tests and benchmarks.

Dataplanes get node ids 1..N and are linked in a full mesh of memif links
(the lower id is the memif server); clients (dsm-loadgen) get ids 11.. and a
memif link to every dataplane.  Every process has its own --file-prefix and
the cluster's own temp directory, so several clusters can run side by side.
Every process is started, waited for (by its output, with a deadline) and
stopped by its pid; nothing is left behind.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DEFAULT_SEGMENTS = [
    # (id, name, size, home[, page_size])
    (1, "kv", "1M", 1),
    (2, "array", "1M", 2),
    (3, "pingpong", "64K", 3),
]


class ClusterError(Exception):
    pass


class Proc:
    """One started process with its log files."""

    def __init__(self, name, argv, workdir, prefix):
        self.name = name
        self.prefix = prefix
        self.out_path = os.path.join(workdir, name + ".out")
        self.err_path = os.path.join(workdir, name + ".err")
        self.argv = argv
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.popen.pid

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def errors(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait_for(self, text, timeout):
        """Wait until text appears in stdout or stderr (polling the logs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output() or text in self.errors():
                return
            if self.popen.poll() is not None:
                if text in self.output() or text in self.errors():
                    return
                raise ClusterError("%s exited (%s) before printing %r:\n%s\n%s" % (
                    self.name, self.popen.returncode, text, self.output()[-3000:],
                    self.errors()[-3000:]))
            time.sleep(0.02)
        raise ClusterError("%s did not print %r within %.0f s:\n%s\n%s" % (
            self.name, text, timeout, self.output()[-3000:], self.errors()[-3000:]))

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError("%s did not exit within %.0f s" % (self.name, timeout))

    def stop(self, timeout=10):
        """SIGTERM by pid, then SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        return self.popen.returncode


class Cluster:
    def __init__(self, build, ndataplanes=3, clients=(11, 12, 13), segments=None,
                 mtu=1500, idle="sleep", tag="dsm", keep=False, dataplane_lcores=None,
                 tuning=None, shared_memory=(), sockets=False, cluster=None):
        self.build = os.path.abspath(build)
        self.ndp = ndataplanes
        self.clients = list(clients)
        self.segments = segments or DEFAULT_SEGMENTS
        self.mtu = mtu
        self.idle = idle
        self.keep = keep
        self.tuning = tuning or {}
        self.dataplane_lcores = dataplane_lcores or {}
        # Nodes whose hugepage files stay linked, so that secondary processes
        # (dpdk-dumpcap, dpdk-proc-info) can attach; others unlink them at
        # once, so that nothing is left behind even after a SIGKILL.
        self.shared_memory = set(shared_memory)
        self.workdir = tempfile.mkdtemp(prefix=tag + "-")
        self.uniq = "%s%d" % (tag, os.getpid())
        self.procs = {}
        self.dataplanes = list(range(1, ndataplanes + 1))
        # Control sockets (the userfaultfd front end) on every dataplane.
        self.sockets = sockets
        # Membership in etcd: a dict of cluster-section keys (etcd, name,
        # lease_ttl_s, etcd_port, workloads); None: a static cluster.
        self.cluster = None
        if cluster is not None:
            self.cluster = {"name": self.uniq, "state_dir": os.path.join(self.workdir, "state")}
            self.cluster.update(cluster)

    # ---- configuration -------------------------------------------------
    def _link_sock(self, a, b):
        lo, hi = min(a, b), max(a, b)
        return os.path.join(self.workdir, "m%d-%d.sock" % (lo, hi))

    def _neighbours(self, node):
        if node in self.dataplanes:
            return [d for d in self.dataplanes if d != node] + list(self.clients)
        return list(self.dataplanes)

    def config_text(self, node):
        ports, peers = [], []
        for k, other in enumerate(self._neighbours(node)):
            if other not in self.dataplanes and node not in self.dataplanes:
                continue
            role = "server" if node < other else "client"
            # mac=: memif cannot change its MAC later; this is the node's
            # default MAC (derived from its id), which peers assume.
            ports.append("  - name: to%d\n    vdev: net_memif%d\n"
                         "    args: role=%s,id=0,socket=%s,socket-abstract=no,"
                         "mac=02:d5:00:00:%02x:%02x\n"
                         "    mtu: %d" % (other, k, role, self._link_sock(node, other),
                                         node >> 8, node & 0xff, self.mtu))
            peers.append("  - id: %d\n    ip: 10.77.0.%d\n    port: to%d" % (other, other, other))
        segs = ["  - id: %d\n    name: %s\n    size: %s\n    home: %d" % s[:4] +
                ("\n    page_size: %s" % s[4] if len(s) > 4 else "")
                for s in self.segments]
        tuning = "".join("\n  %s: %s" % kv for kv in sorted(self.tuning.items()))
        sock = ("  socket: %s\n" % self.socket_path(node)
                if self.sockets and node in self.dataplanes else "")
        cl = ""
        if self.cluster is not None and node in self.dataplanes:
            cl = "cluster:" + "".join("\n  %s: %s" % (k, str(v).lower() if isinstance(v, bool)
                                                      else v)
                                      for k, v in sorted(self.cluster.items())
                                      if v is not None) + "\n"
        return ("node:\n  id: %d\n  ip: 10.77.0.%d\n  epoch: 1\n%s"
                "ports:\n%s\npeers:\n%s\nsegments:\n%s\n%s%s" % (
                    node, node, sock, "\n".join(ports), "\n".join(peers), "\n".join(segs),
                    ("tuning:" + tuning + "\n") if tuning else "", cl))

    def socket_path(self, node):
        return os.path.join(self.workdir, "dp%d.sock" % node)

    def config_path(self, node):
        path = os.path.join(self.workdir, "node%d.yaml" % node)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(self.config_text(node))
        return path

    def prefix(self, node):
        return "%s-n%d" % (self.uniq, node)

    def eal(self, node, lcores):
        unlink = [] if node in self.shared_memory else ["--huge-unlink"]
        return ["--lcores", lcores, "--no-pci", "--file-prefix", self.prefix(node),
                "--log-level", "pmd.net.memif:crit"] + unlink

    # ---- processes -----------------------------------------------------
    def start_dataplanes(self, timeout=30, extra=None, only=None):
        started = [d for d in self.dataplanes if only is None or d in only]
        for d in started:
            lcores = self.dataplane_lcores.get(d, "0@%d" % (d % 2))
            argv = [os.path.join(self.build, "dataplane/daemon/dsm-dataplane")] + \
                self.eal(d, lcores) + ["--", "--config", self.config_path(d),
                                       "--idle", self.idle] + (extra or [])
            self.procs["dp%d" % d] = Proc("dp%d" % d, argv, self.workdir, self.prefix(d))
        for d in started:
            self.procs["dp%d" % d].wait_for("ready", timeout)

    def start_app(self, node, args, name):
        """An application on dataplane node's control socket
        (tests/integration/apps/dsm-apptest)."""
        argv = [os.path.join(self.build, "tests/integration/apps/dsm-apptest"),
                "--socket", self.socket_path(node)] + list(args)
        self.procs[name] = Proc(name, argv, self.workdir, None)
        return self.procs[name]

    def client_argv(self, node, args, lcores=None):
        lc = lcores or "0@%d" % (node % 2)
        return [os.path.join(self.build, "bench/loadgen/dsm-loadgen")] + \
            self.eal(node, lc) + ["--", "--config", self.config_path(node)] + list(args)

    def start_client(self, node, args, name=None, lcores=None):
        name = name or "client%d-%d" % (node, len(self.procs))
        p = Proc(name, self.client_argv(node, args, lcores), self.workdir, self.prefix(node))
        self.procs[name] = p
        return p

    def run_client(self, node, args, timeout=120, lcores=None):
        p = self.start_client(node, args, lcores=lcores)
        rc = p.wait(timeout)
        return rc, p.output(), p.errors()

    # ---- the control plane (clusters with membership) -------------------
    def etcd_url(self):
        """The etcd the nodes use: the configured one, else the embedded."""
        if self.cluster.get("etcd"):
            return self.cluster["etcd"]
        return "http://127.0.0.1:%d" % self.cluster["etcd_port"]

    def dsmctl(self, args, timeout=60):
        """Run dsmctl against this cluster; its stdout, or ClusterError
        unless it exits 0.  timeout bounds dsmctl's own waits (--timeout)."""
        argv = [os.path.join(self.build, "control/dsmctl/dsmctl"), "--etcd", self.etcd_url(),
                "--cluster", self.cluster["name"], "--timeout", str(timeout)] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
        if r.returncode:
            raise ClusterError("dsmctl %s: exit %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r.stdout

    def workload_events(self, name, gen):
        """The JSON event lines of workload name's generation gen (its log,
        written by the node's supervisor)."""
        path = os.path.join(self.cluster["state_dir"], "%s.%d.log" % (name, gen))
        try:
            with open(path, errors="replace") as f:
                return parse_json_lines(f.read())
        except (OSError, ValueError):
            return []

    def wait_workload_event(self, name, gen, event, timeout=60):
        """The first `event` line of that log (polled with a deadline: another
        process writes it); an "error" event fails at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.workload_events(name, gen):
                if e.get("event") == "error":
                    raise ClusterError("%s gen %d: %s" % (name, gen, e))
                if e.get("event") == event:
                    return e
            time.sleep(0.05)
        raise ClusterError("%s gen %d: no %r event within %d s: %s" % (
            name, gen, event, timeout, self.workload_events(name, gen)[-5:]))

    # ---- telemetry -----------------------------------------------------
    def telemetry(self, node, cmd, timeout=5):
        """Run one telemetry command on node's DPDK telemetry socket.  A
        refused connection is retried until the deadline (the listener
        thread may be busy); a final failure says whether the node lives."""
        path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % self.prefix(node)
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(timeout)
            try:
                s.connect(path)
                json.loads(s.recv(16384).decode())
                s.send(cmd.encode())
                reply = json.loads(s.recv(1 << 20).decode())
                return reply.get(cmd.split(",")[0])
            except (ConnectionRefusedError, BlockingIOError, FileNotFoundError) as e:
                if time.monotonic() > deadline:
                    raise ClusterError("telemetry of node %d: %s; %s" % (
                        node, e, self._status(node)))
            finally:
                s.close()
            time.sleep(0.05)

    def _status(self, node):
        p = self.procs.get("dp%d" % node)
        if p is None:
            return "not a dataplane of this cluster"
        rc = p.popen.poll()
        return "process %s; stderr tail:\n%s" % (
            "alive" if rc is None else "exited with %s" % rc, p.errors()[-2000:])

    # ---- teardown ------------------------------------------------------
    def stop_all(self):
        rcs = {}
        for name, p in list(self.procs.items()):
            rcs[name] = p.stop()
        for node in self.dataplanes + self.clients:
            shutil.rmtree("/var/run/dpdk/%s" % self.prefix(node), ignore_errors=True)
            if node in self.shared_memory:
                for f in os.listdir("/dev/hugepages"):
                    if f.startswith(self.prefix(node) + "map_"):
                        os.unlink(os.path.join("/dev/hugepages", f))
        return rcs

    def cleanup(self):
        self.stop_all()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


def wait_until(cond, timeout, what):
    """Poll cond() - a state another process changes, read through
    telemetry, etcd or a socket - until it returns something true (which is
    returned), or raise ClusterError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise ClusterError("timed out waiting for " + what)
        time.sleep(0.005)


def free_ports(n):
    """n distinct free loopback TCP ports (held together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """A single-member etcd (Debian's etcd-server) on loopback ports of its
    own, with its own data directory; stopped, paused and restarted by pid."""

    def __init__(self, workdir, name="etcd"):
        self.dir = os.path.join(workdir, name)
        self.client_port, self.peer_port = free_ports(2)
        self.url = "http://127.0.0.1:%d" % self.client_port
        self.proc = None
        self.log = os.path.join(workdir, name + ".log")

    def start(self, timeout=20):
        purl = "http://127.0.0.1:%d" % self.peer_port
        argv = [os.environ.get("DSM_ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd",
                "--name", "dsm",
                "--data-dir", self.dir, "--listen-client-urls", self.url,
                "--advertise-client-urls", self.url, "--listen-peer-urls", purl,
                "--initial-advertise-peer-urls", purl,
                "--initial-cluster", "dsm=" + purl,
                "--heartbeat-interval", "10", "--election-timeout", "100",
                "--log-level", "warn"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClusterError("etcd exited (%s); see %s" % (self.proc.returncode, self.log))
            try:
                self.request("/v3/kv/range", {"key": "L2hlYWx0aA=="}, timeout=1)
                return self
            except OSError:
                time.sleep(0.05)
        raise ClusterError("etcd did not come up within %d s; see %s" % (timeout, self.log))

    def request(self, path, body, timeout=5):
        """One call to the JSON gateway (path: /v3/...)."""
        import urllib.request
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def put(self, key, value):
        """Put key = value (a str as is, anything else as JSON)."""
        if not isinstance(value, str):
            value = json.dumps(value)
        self.request("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def get(self, key):
        """key's value as a str, or None."""
        import base64
        kvs = self.request("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None

    def get_json(self, key):
        v = self.get(key)
        return json.loads(v) if v is not None else None

    def delete(self, key):
        self.request("/v3/kv/deleterange", {"key": _b64(key)})

    def get_prefix(self, prefix):
        """{key: decoded JSON value} of every key under prefix."""
        import base64
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self.request("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
        out = {}
        for kv in r.get("kvs", []):
            v = base64.b64decode(kv.get("value", "")).decode()
            try:
                out[base64.b64decode(kv["key"]).decode()] = json.loads(v)
            except ValueError:
                out[base64.b64decode(kv["key"]).decode()] = v
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def parse_json_lines(text):
    """The JSON objects printed one per line in a program's output."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            out.append(json.loads(line))
    return out
