#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Boot Debian's kernel in qemu (TCG), load kernel modules, run static test
programs in the guest and judge the serial log.

    run_guest.py --ko dsm.ko [--ko ...] --test PROG [--test ...]
                 [--kver VER] [--timeout S] [--test-timeout S] [--log PATH]
                 [--workdir DIR] [--mem MB] [--smp N] [--extra PATH ...]
                 [--arg NAME=ARGS ...] [--allow-pattern REGEX ...]

The guest is a busybox initramfs built here (no root, no loop devices): its
/init loads the modules in order, runs every test under busybox `timeout`,
unloads the modules in reverse order, dumps dmesg and powers off.  Every step
prints a "KTEST ..." line on the serial console; the host streams the console
live ("guest| ..."), then passes the run only if every step passed and the
kernel logged no problem report (WARNING, BUG, Oops, lockup, stall, ...).

Exit status: 0 all passed, 1 a test/module step failed or the kernel reported
a problem (or the guest timed out), 2 the harness could not run (missing
qemu or kernel, bad arguments, dynamic test binary, ...).
"""
import argparse
import gzip
import os
import re
import select
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"]
MODULE_DIR = "lib/modules-dsm"
# loglevel=4 keeps the boot quiet; printk.time=1 guarantees the "[ 1.234]"
# stamp that tells kernel lines apart from test programs' output; a large
# log buffer keeps a chatty module from pushing early reports out of dmesg.
KERNEL_CMDLINE = "console=ttyS0 panic=-1 loglevel=4 printk.time=1 log_buf_len=4M"
# Seconds between busybox timeout's SIGTERM and its SIGKILL: lets a benchmark
# print its figures on SIGTERM, yet a test ignoring SIGTERM still dies.
TERM_GRACE = 5
# The guest reports a step still running this long after timeout's SIGKILL
# (KTEST-STUCK) and dumps the blocked tasks; the host stops the guest
# STUCK_DUMP seconds later instead of waiting for --timeout.
STUCK_EXTRA = 5
STUCK_DUMP = 15
# Fallback when the guest cannot even report that (e.g. every CPU wedged):
# no KTEST line for the per-test timeout plus this.
STALL_GRACE = 60
POWEROFF_GRACE = 30
# Applets the generated /init runs (besides shell builtins): a test must not
# shadow them.
INIT_APPLETS = {"sh", "mount", "insmod", "rmmod", "timeout", "sleep", "dmesg",
                "poweroff", "uname", "mkfifo"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

# Kernel problem reports.  Only lines carrying a printk timestamp are
# scanned, so a test printing "WARNING:" about itself does not fail the run.
PROBLEM_PATTERNS = [re.compile(p) for p in [
    r"WARNING:", r"BUG:", r"BUG kmalloc", r"kernel BUG at", r"Oops",
    r"Call Trace", r"general protection fault", r"Kernel panic",
    r"KASAN", r"UBSAN", r"possible circular locking", r"lockdep",
    r"blocked for more than", r"soft lockup", r"hard LOCKUP",
    r"RCU stall", r"rcu_\w+ self-detected stall", r"rcu: INFO: .*detected stall",
    r"refcount_t:", r"list_add corruption", r"list_del corruption",
    r"Bad page", r"segfault at", r"double fault", r"stack is corrupted",
]]
KERNEL_STAMP = re.compile(r"\[\s*\d+\.\d+\]")
# SeaBIOS clears the screen with escape sequences; they would garble lines.
ESCAPES = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-z]|[@-Z\\-_]|c)")
# The dmesg dump repeats ~300 boot lines every run: they go to the log only.
BOOT_END = "Run /init as init process"
KTEST_RE = re.compile(r"(?<![\w-])KTEST (\S+) (\S+)(.*)")
PROGRESS_RE = re.compile(r"KTEST(?: |-HARNESS|-DMESG)")
STUCK_RE = re.compile(r"KTEST-STUCK (.+?): ")


class SetupError(Exception):
    """The harness cannot run; exit status 2."""


class Interrupted(Exception):
    """SIGTERM/SIGINT: stop qemu, clean up, exit 2."""


# ---------------------------------------------------------------- ELF files

def read_elf(path):
    """Parse just enough of an ELF file: header fields, program header types
    and named sections.  Returns None when the file is not ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[5:6] != b"\x01":   # little-endian only (x86)
        return None
    is64 = data[4] == 2
    try:
        hdr = struct.unpack_from("<HHIQQQIHHHHHH" if is64 else "<HHIIIIIHHHHHH", data, 16)
        e_type, e_machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, \
            shstrndx = hdr
        ptypes = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
        sections = elf_sections(data, is64, shoff, shentsize, shnum, shstrndx)
    except (struct.error, ValueError) as e:
        raise SetupError("%s: malformed ELF file (%s)" % (path, e))
    return {"type": e_type, "machine": e_machine, "ptypes": ptypes, "sections": sections}


def elf_sections(data, is64, shoff, shentsize, shnum, shstrndx):
    """Map section name -> bytes."""
    fmt = "<IIQQQQIIQQ" if is64 else "<IIIIIIIIII"
    shdrs = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]
    if not shdrs or shstrndx >= len(shdrs):
        return {}
    names_off = shdrs[shstrndx][4]
    sections = {}
    for sh in shdrs:
        name_end = data.index(b"\0", names_off + sh[0])
        name = data[names_off + sh[0]:name_end].decode(errors="replace")
        sections[name] = data[sh[4]:sh[4] + sh[5]]
    return sections


def check_static_program(path):
    """Tests run in a guest with no shared libraries: refuse dynamic ELF
    binaries (those with a PT_INTERP program header)."""
    elf = read_elf(path)
    if elf is None:
        raise SetupError("%s: not an ELF executable (tests must be static ELF binaries)" % path)
    if elf["machine"] not in (3, 62):             # EM_386, EM_X86_64
        raise SetupError("%s: not an x86 binary (ELF machine %d)" % (path, elf["machine"]))
    if 3 in elf["ptypes"]:                        # PT_INTERP
        raise SetupError("%s: dynamically linked; the guest has no shared libraries, "
                         "build it with -static" % path)


def module_info(path, kver):
    """Return (module name, [depends]) from the .ko's .modinfo, checking its
    vermagic against the kernel that will boot (insmod would only say
    'Invalid module format')."""
    elf = read_elf(path)
    if elf is None or elf["type"] != 1 or ".modinfo" not in elf["sections"]:
        raise SetupError("%s: not a kernel module (no ELF .modinfo section)" % path)
    info = {}
    for field in elf["sections"][".modinfo"].split(b"\0"):
        key, _, value = field.decode(errors="replace").partition("=")
        info.setdefault(key, value)
    built_for = info.get("vermagic", "").split(" ")[0]
    if built_for != kver:
        raise SetupError("%s: built for kernel %r, the guest boots %s; rebuild it with "
                         "make -C /lib/modules/%s/build M=..." % (path, built_for, kver, kver))
    name = info.get("name") or os.path.basename(path)[:-3].replace("-", "_")
    depends = [d for d in info.get("depends", "").split(",") if d]
    return name, depends


# ------------------------------------------------------------- host checks

def version_key(ver):
    # re.split with a group alternates text and digits, so keys compare cleanly
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", ver)]


def pick_kver(requested):
    """The requested kernel, or the newest with headers and a bootable image."""
    if requested:
        if not os.path.isfile("/boot/vmlinuz-" + requested):
            raise SetupError("no kernel image /boot/vmlinuz-%s (install linux-image-%s)"
                             % (requested, requested))
        return requested
    try:
        versions = os.listdir("/lib/modules")
    except FileNotFoundError:
        versions = []
    usable = [v for v in versions if os.path.isdir("/lib/modules/%s/build" % v)
              and os.path.isfile("/boot/vmlinuz-" + v)]
    if not usable:
        raise SetupError("no kernel with both /lib/modules/VER/build and /boot/vmlinuz-VER; "
                         "install linux-image-amd64 and linux-headers-amd64, or pass --kver")
    return max(usable, key=version_key)


def find_tools():
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise SetupError("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    busybox = next((p for p in BUSYBOX_CANDIDATES if os.path.isfile(p)), None)
    if not busybox:
        raise SetupError("busybox not found (apt-get install busybox-static)")
    elf = read_elf(busybox)
    if elf is None or 3 in elf["ptypes"]:
        raise SetupError("%s is not statically linked (apt-get install busybox-static)" % busybox)
    return qemu, busybox


def busybox_applets(busybox):
    """Applet paths relative to / (bin/ls, usr/sbin/chroot, ...)."""
    out = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------ guest layout

class Plan:
    """What goes into the guest: modules (in load order), tests, extras."""

    def __init__(self, args, kver):
        self.kver = kver
        self.modules = [(path,) + module_info(path, kver) for path in args.ko]
        self.tests = [(p, os.path.basename(p)) for p in args.test]
        self.extras = [(p, os.path.basename(p)) for p in args.extra]
        self.dyn = [parse_dyn(spec) for spec in args.dyn]
        self.test_args = parse_test_args(args.arg, [n for _, n in self.tests])
        self.test_timeout = args.test_timeout
        self.timeout = args.timeout
        self.check()

    def check(self):
        for path, _ in self.tests + self.extras:
            if not os.path.isfile(path):
                raise SetupError("%s: no such file" % path)
        for path, _ in self.tests:
            check_static_program(path)
        for path, _ in self.extras:
            if read_elf(path) is not None:     # scripts and data files are fine
                check_static_program(path)
        names = [n for _, n in self.tests + self.extras]
        for name in names:
            if not NAME_RE.match(name) or name in ("insmod", "rmmod"):
                raise SetupError("%r: test/extra names must match %s and not be insmod/rmmod"
                                 % (name, NAME_RE.pattern))
            # Other applets may be shadowed: the user's file replaces the link.
            if name in INIT_APPLETS:
                raise SetupError("%r would shadow the busybox applet the guest /init uses; "
                                 "rename it" % name)
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SetupError("two tests/extras named %s (they all go to /bin)"
                             % ", ".join(sorted(dup)))
        self.check_modules()

    def check_modules(self):
        names = [m[1] for m in self.modules]
        if len(set(names)) != len(names):
            raise SetupError("a module is given twice: %s" % ", ".join(names))
        for i, (path, name, depends) in enumerate(self.modules):
            missing = [d for d in depends if d not in names[:i]]
            if missing:
                raise SetupError("%s depends on %s: pass %s with --ko before it"
                                 % (path, ", ".join(missing), "/".join(missing)))


def parse_dyn(spec):
    """--dyn SRC[=DEST] -> (src, dest without the leading /)."""
    src, _, dest = spec.partition("=")
    dest = dest or "/bin/" + os.path.basename(src)
    if not os.path.isfile(src):
        raise SetupError("--dyn %s: no such file" % src)
    if not dest.startswith("/") or ".." in dest.split("/"):
        raise SetupError("--dyn %s: DEST must be an absolute path" % spec)
    return src, dest.lstrip("/")


def ldd_closure(path):
    """Libraries (and the loader) a dynamic ELF needs, as ldd resolves them."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    libs = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            cand = parts[i + 1] if i + 1 < len(parts) else ""
        else:
            cand = parts[0] if parts else ""
        if cand.startswith("/") and os.path.exists(cand):
            libs.append(cand)
    if "not found" in out.stdout:
        raise SetupError("%s: ldd cannot resolve every library:\n%s" % (path, out.stdout))
    return libs


def add_dynamic(cpio, plan, made):
    """Copy --dyn files and their libraries, creating parent directories
    (made: the directories already in the archive)."""

    def put(name, src):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in made:
                made.add(d)
                cpio.dir(d)
        if name not in made:
            made.add(name)
            cpio.copy(name, os.path.realpath(src))

    for src, dest in plan.dyn:
        put(dest, src)
        for lib in ldd_closure(src):
            put(lib.lstrip("/"), lib)


def parse_test_args(specs, test_names):
    """--arg NAME=ARGS (repeatable, appends) -> {name: [argv...]}."""
    result = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or name not in test_names:
            raise SetupError("--arg %r: expected NAME=ARGS with NAME one of: %s"
                             % (spec, ", ".join(test_names)))
        result.setdefault(name, []).extend(shlex.split(rest))
    return result


def init_script(plan):
    """The guest's /init.  Every step prints one KTEST line the host judges."""
    lines = ["#!/bin/sh", "# Generated by tests/kmod/run_guest.py.",
             "TEST_TIMEOUT=%d TERM_GRACE=%d STUCK_AFTER=%d"
             % (plan.test_timeout, TERM_GRACE, plan.test_timeout + TERM_GRACE + STUCK_EXTRA),
             INIT_SETUP]
    lines += ["load %s /%s/%s.ko" % (name, MODULE_DIR, name) for _, name, _ in plan.modules]
    for _, name in plan.tests:
        argv = " ".join(shlex.quote(a) for a in plan.test_args.get(name, []))
        lines.append(("run_test %s /bin/%s %s" % (name, name, argv)).rstrip())
    lines.append(INIT_EPILOGUE)
    return "\n".join(lines) + "\n"


INIT_SETUP = r"""export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
cd /tmp
# Report hung tasks quickly (default 120 s is longer than a test may take),
# and keep running after a WARN so the whole log can be judged.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 15 > /proc/sys/kernel/hung_task_timeout_secs
[ -w /proc/sys/kernel/panic_on_warn ] && echo 0 > /proc/sys/kernel/panic_on_warn
# Warnings and worse go to the console live from now on: if the guest hangs
# later, the dmesg dump at the end never happens.
echo 5 > /proc/sys/kernel/printk
echo    # the kernel's "Probing EDD ... ok" has no newline
echo "KTEST-HARNESS kernel $(uname -r)"

# The running step ("<uptime> <label>") for the monitor; empty between steps.
step_begin() { read -r up _ < /proc/uptime; t0=${up%.*}; echo "$t0 $1" > /tmp/.ktest-step; }
step_end() { read -r up _ < /proc/uptime; t1=${up%.*}; : > /tmp/.ktest-step; }

# A step still running STUCK_AFTER s after it began is beyond timeout's
# SIGKILL (uninterruptible sleep, or a hung insmod/rmmod): print the blocked
# tasks' stacks while the guest still can (the host then stops the guest).
# Builtins only, with read -t on a FIFO as the sleep, so that killing this
# one process leaves nothing behind.
monitor() {
    reported=""
    while :; do
        read -t 1 _ <> /tmp/.ktest-tick
        read -r since step < /tmp/.ktest-step && [ "$step" != "$reported" ] || continue
        read -r up _ < /proc/uptime
        [ $((${up%.*} - since)) -ge $STUCK_AFTER ] || continue
        reported=$step
        echo "KTEST-STUCK $step: still running $STUCK_AFTER s after it began; blocked tasks follow"
        echo 8 > /proc/sys/kernel/printk
        echo w > /proc/sysrq-trigger
    done
}
mkfifo /tmp/.ktest-tick
: > /tmp/.ktest-step
monitor &
monitor_pid=$!

ok=1        # every insmod so far succeeded
loaded=""   # loaded modules, most recent first (the rmmod order)
load() {
    if [ $ok != 1 ]; then echo "KTEST insmod $1 FAIL skipped: an earlier insmod failed"; return; fi
    step_begin "insmod $1"
    if insmod "$2"; then
        echo "KTEST insmod $1 PASS"; loaded="$1 $loaded"
    else
        echo "KTEST insmod $1 FAIL"; ok=0
    fi
    step_end
}
unload() {
    step_begin "rmmod $1"
    if rmmod "$1"; then echo "KTEST rmmod $1 PASS"; else echo "KTEST rmmod $1 FAIL"; fi
    step_end
}
run_test() {
    name=$1; shift
    if [ $ok != 1 ]; then echo "KTEST $name SKIP insmod failed"; return; fi
    echo "KTEST $name BEGIN"
    step_begin "$name"
    timeout -k $TERM_GRACE $TEST_TIMEOUT "$@" </dev/null
    rc=$?
    step_end
    if [ $rc = 0 ]; then
        echo "KTEST $name PASS"
    elif [ $rc -ge 128 ] && [ $((t1 - t0)) -ge $TEST_TIMEOUT ]; then
        echo "KTEST $name FAIL rc=$rc (killed by the $TEST_TIMEOUT s per-test timeout)"
    else
        echo "KTEST $name FAIL rc=$rc"
    fi
}
"""

INIT_EPILOGUE = r"""
# Children a timed-out test left behind would still hold the modules.  Only
# builtins here: a forked helper would show up as a leftover itself.  Kernel
# threads and zombies have no /proc/PID/exe; busybox timeout's watchers
# poll once a second and leave by themselves once their test is gone.
strays=""
for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ $p != 1 ] && [ $p != $monitor_pid ] && [ -e "$d/exe" ] || continue
    read -r comm 2>/dev/null < "$d/comm" && [ "$comm" = timeout ] && continue
    strays="$strays $p"
done
if [ -n "$strays" ]; then
    echo "KTEST-HARNESS killing leftover processes:$strays"
    kill -KILL $strays; sleep 1
fi
for m in $loaded; do unload "$m"; done
{ kill -KILL $monitor_pid; wait $monitor_pid; } 2>/dev/null    # no "Killed" notice
echo KTEST-DMESG-BEGIN
dmesg
echo KTEST-DMESG-END
echo "KTEST-HARNESS done"
poweroff -f
echo o > /proc/sysrq-trigger
"""


class Cpio:
    """A cpio 'newc' archive written in memory: no staging tree on disk, so
    owners, modes and /dev/console come out right without root."""

    def __init__(self):
        self.chunks = []
        self.ino = 0

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self.ino += 1
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        head = b"070701" + b"".join(b"%08x" % f for f in fields) + name.encode() + b"\0"
        self.chunks += [head, b"\0" * (-len(head) % 4), data, b"\0" * (-len(data) % 4)]

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        self._entry(name, stat.S_IFREG | mode, data)

    def copy(self, name, path, mode=0o755):
        with open(path, "rb") as f:
            self.file(name, f.read(), mode)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def write_gz(self, path):
        self._entry("TRAILER!!!", 0)
        with open(path, "wb") as f:
            f.write(gzip.compress(b"".join(self.chunks), compresslevel=1, mtime=0))


def build_initramfs(plan, busybox, applets, workdir):
    """Write workdir/init (for inspection) and workdir/initramfs.cpio.gz."""
    cpio = Cpio()
    base_dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
                 "tmp", "root", "lib", MODULE_DIR, "var", "var/run", "run"]
    for d in base_dirs:
        cpio.dir(d)
    # The kernel opens /dev/console for /init's stdio before devtmpfs exists.
    cpio.chardev("dev/console", 5, 1)
    cpio.copy("bin/busybox", busybox)
    ours = {"bin/" + n for _, n in plan.tests + plan.extras}
    for applet in applets:
        if applet != "bin/busybox" and applet not in ours:
            cpio.symlink(applet, "/bin/busybox")
    for path, name, _ in plan.modules:
        cpio.copy("%s/%s.ko" % (MODULE_DIR, name), path, 0o644)
    for path, name in plan.tests:
        cpio.copy("bin/" + name, path)
    for path, name in plan.extras:
        cpio.copy("bin/" + name, path, 0o755 if os.access(path, os.X_OK) else 0o644)
    add_dynamic(cpio, plan, set(base_dirs) | {"bin/" + n for _, n in plan.tests + plan.extras})
    script = init_script(plan)
    with open(os.path.join(workdir, "init"), "w") as f:
        f.write(script)
    cpio.file("init", script.encode())
    out = os.path.join(workdir, "initramfs.cpio.gz")
    cpio.write_gz(out)
    return out


# ---------------------------------------------------------------- booting

class Run:
    """Outcome of one boot: the console lines, how it ended, and host-side
    timestamps of KTEST lines (for per-test durations)."""

    def __init__(self):
        self.lines = []
        self.ended = "exited"      # exited | TIMEOUT | STUCK | STALL | NO-POWEROFF
        self.stuck = None          # (step label, host time) from KTEST-STUCK
        self.qemu_rc = None
        self.seconds = 0.0
        self.marks = {}            # (name, word) -> host time.monotonic()
        self.hidden = None         # boot lines of the dmesg dump not shown


def qemu_command(qemu, kver, initrd, args):
    return [qemu, "-kernel", "/boot/vmlinuz-" + kver, "-initrd", initrd,
            "-append", KERNEL_CMDLINE, "-nographic", "-no-reboot",
            "-m", str(args.mem), "-smp", str(args.smp), "-accel", "tcg", "-nic", "none",
            # Every CPU feature TCG emulates: Debian's DPDK needs SSE4.2,
            # which the default qemu64 model lacks.
            "-cpu", "max"]


def boot(cmd, log_path, args):
    """Run qemu, streaming its console live to stdout and to log_path, until
    it exits, the overall timeout passes or the guest stops making progress.
    qemu is always killed before this returns."""
    run = Run()
    start = time.monotonic()
    with open(log_path, "wb") as log:
        # Own session: a Ctrl-C on the terminal reaches only us, and killing
        # the process group takes any helper qemu started with it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            stream(proc, log, run, start, args)
        finally:
            stop(proc)
    run.qemu_rc = proc.returncode
    run.seconds = time.monotonic() - start
    return run


def stream(proc, log, run, start, args):
    fd = proc.stdout.fileno()
    pending = b""
    last_progress = start
    while True:
        now = time.monotonic()
        ended = deadline_passed(run, now, start, last_progress, args)
        if ended:
            run.ended = ended
            return
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            if pending:
                take_line(pending, log, run, time.monotonic())
            proc.wait()
            return
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for raw in lines:
            if take_line(raw, log, run, time.monotonic()):
                last_progress = time.monotonic()


def deadline_passed(run, now, start, last_progress, args):
    """Which limit, if any, the guest has run past."""
    if now - start > args.timeout:
        return "TIMEOUT"
    if run.stuck and now - run.stuck[1] > STUCK_DUMP:
        return "STUCK"
    if ("KTEST-HARNESS", "done") in run.marks:
        if now - run.marks[("KTEST-HARNESS", "done")] > POWEROFF_GRACE:
            return "NO-POWEROFF"
    elif now - last_progress > args.test_timeout + TERM_GRACE + STALL_GRACE:
        return "STALL"
    return None


def take_line(raw, log, run, now):
    """Log, show and index one console line; True if it shows the guest's
    harness making progress."""
    log.write(raw + b"\n")
    log.flush()
    line = ESCAPES.sub("", raw.decode(errors="replace")).rstrip("\r")
    run.lines.append(line)
    show(line, run)
    if "KTEST-HARNESS done" in line:
        run.marks[("KTEST-HARNESS", "done")] = now
    step = parse_ktest(line)
    if step:
        run.marks.setdefault(step[:2], now)
    stuck = STUCK_RE.search(line)
    if stuck and not run.stuck:
        run.stuck = (stuck.group(1), now)
    return bool(PROGRESS_RE.search(line))


def show(line, run):
    """Print a console line live, except the boot part of the dmesg dump."""
    if "KTEST-DMESG-BEGIN" in line:
        run.hidden = 0
    elif run.hidden is not None and BOOT_END in line:
        print("guest| (%d boot messages of the dmesg dump: in the log only)" % run.hidden)
        run.hidden = None
    elif run.hidden is not None and "KTEST-DMESG-END" in line:
        if run.hidden:      # the buffer wrapped: no "Run /init" line in it
            print("guest| (%d lines of the dmesg dump: in the log only)" % run.hidden)
        run.hidden = None
    elif run.hidden is not None:
        run.hidden += 1
        return
    print("guest| " + line, flush=True)


def parse_ktest(line):
    """'KTEST dsmcheck FAIL rc=1' -> ('dsmcheck', 'FAIL', 'rc=1');
    'KTEST insmod dsm PASS' -> ('insmod dsm', 'PASS', '')."""
    m = KTEST_RE.search(line)
    if not m:
        return None
    step, word, rest = m.group(1), m.group(2), m.group(3).strip()
    if step in ("insmod", "rmmod"):
        step += " " + word
        word, _, rest = rest.partition(" ")
    return step, word, rest.strip()


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    proc.stdout.close()


# ---------------------------------------------------------------- judging

def step_results(run, plan):
    """[(label, status, detail, seconds)] for insmods, tests and rmmods."""
    verdicts = {}
    for line in run.lines:
        step = parse_ktest(line)
        if step and step[1] in ("PASS", "FAIL", "SKIP"):
            verdicts.setdefault(step[0], step[1:])
    # A module that never loaded has no rmmod step: its insmod already failed.
    loaded = [n for _, n, _ in plan.modules if verdicts.get("insmod " + n, ("",))[0] == "PASS"]
    steps = ["insmod " + name for _, name, _ in plan.modules]
    steps += [name for _, name in plan.tests]
    steps += ["rmmod " + name for name in reversed(loaded)]
    results = []
    for label in steps:
        status, detail = verdicts.get(label, ("MISSING", ""))
        if status == "MISSING" and run.stuck and run.stuck[0] == label:
            detail = "stuck in the kernel (KTEST-STUCK)"
        elif status == "MISSING" and (label, "BEGIN") in run.marks:
            detail = "started, never finished"
        results.append((label, status, detail, test_seconds(run, label, status)))
    return results


def test_seconds(run, label, status):
    begin = run.marks.get((label, "BEGIN"))
    end = run.marks.get((label, status))
    return end - begin if begin is not None and end is not None else None


def kernel_problems(lines, allow):
    """Indexes of kernel lines matching a problem pattern, first occurrence
    only (the live console and the dmesg dump show the same report twice),
    and the number of lines exempted by --allow-pattern."""
    seen, found, allowed = set(), [], 0
    for i, line in enumerate(lines):
        stamp = KERNEL_STAMP.search(line)
        if not stamp:
            continue
        text = line[stamp.start():]
        if text in seen or not any(p.search(text) for p in PROBLEM_PATTERNS):
            continue
        seen.add(text)
        if any(a.search(line) for a in allow):
            allowed += 1
        else:
            found.append(i)
    return found, allowed


def problem_excerpt(lines, found, before=2, after=6, limit=80):
    """Problem lines ('>' marked) with context; overlapping windows merged."""
    windows = []
    for i in found:
        lo, hi = max(0, i - before), min(len(lines), i + after + 1)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    out, marked = [], set(found)
    for lo, hi in windows:
        out += ["%s %s" % (">" if i in marked else " ", lines[i]) for i in range(lo, hi)]
        out.append("  ...")
    if len(out) > limit:
        out = out[:limit] + ["  (%d more lines in the log)" % (len(out) - limit)]
    return out


def judge(run, plan, allow):
    """Print the summary; return the exit status."""
    results = step_results(run, plan)
    found, allowed = kernel_problems(run.lines, allow)
    print("\n==== kmod guest summary: kernel %s, %.1f s ====" % (plan.kver, run.seconds))
    for label, status, detail, secs in results:
        secs = "" if secs is None else "%.1f s" % secs
        print(("  %-28s %-7s %8s  %s" % (label, status, secs, detail)).rstrip())
    reasons = [("%s %s" % (label, status)) for label, status, _, _ in results if status != "PASS"]
    if run.ended != "exited":
        reasons.append(ended_reason(run, plan))
    elif not any("KTEST-HARNESS done" in line for line in run.lines):
        reasons.append("the guest stopped before KTEST-HARNESS done")
    report_problems(run.lines, found, allowed, reasons)
    tests = [r for r in results if r[0] in {n for _, n in plan.tests}]
    passed = sum(1 for r in tests if r[1] == "PASS")
    print("kmod guest: %d passed, %d failed" % (passed, len(tests) - passed))
    print("kmod guest: " + ("PASS" if not reasons else "FAIL: " + "; ".join(reasons)))
    return 1 if reasons else 0


def ended_reason(run, plan):
    if run.ended == "TIMEOUT":
        return "TIMEOUT: the guest ran past --timeout %d s; qemu killed" % plan.timeout
    if run.ended == "STUCK":
        return ("STUCK: %s still running %d s after it began; the blocked tasks' stacks "
                "are above; qemu killed" % (run.stuck[0], plan.test_timeout + TERM_GRACE
                                            + STUCK_EXTRA))
    if run.ended == "STALL":
        return ("STALL: no KTEST progress for %d s (a step stuck beyond its per-test "
                "timeout); qemu killed" % (plan.test_timeout + TERM_GRACE + STALL_GRACE))
    return "the guest did not power off within %d s of finishing; qemu killed" % POWEROFF_GRACE


def report_problems(lines, found, allowed, reasons):
    if allowed:
        print("kernel lines exempted by --allow-pattern: %d" % allowed)
    if not found:
        print("kernel problem reports: none")
        return
    print("kernel problem reports: %d line(s)" % len(found))
    for line in problem_excerpt(lines, found):
        print("    " + line)
    reasons.append("kernel problem reports (%d)" % len(found))


# ------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ko", action="append", required=True, metavar="PATH.ko",
                   help="kernel module to insmod, in the order given (repeatable)")
    p.add_argument("--test", action="append", required=True, metavar="PATH",
                   help="static test program, run in the order given (repeatable)")
    p.add_argument("--kver", metavar="VER",
                   help="kernel version to boot (default: newest with headers)")
    p.add_argument("--timeout", type=int, default=300, metavar="SECONDS",
                   help="whole run, seconds (300)")
    p.add_argument("--test-timeout", type=int, default=120, metavar="SECONDS",
                   help="each test, seconds (120)")
    p.add_argument("--log", metavar="PATH",
                   help="serial log (default: WORKDIR/serial.log or a temp file)")
    p.add_argument("--workdir", metavar="DIR", help="keep init, initramfs and log here")
    p.add_argument("--mem", type=int, default=1024, metavar="MB", help="guest memory, MB (1024)")
    p.add_argument("--smp", type=int, default=2, metavar="N", help="guest CPUs (2)")
    p.add_argument("--extra", action="append", default=[], metavar="PATH",
                   help="extra file copied to the guest's /bin (repeatable)")
    p.add_argument("--dyn", action="append", default=[], metavar="SRC[=DEST]",
                   help="dynamically linked program or shared object, copied to DEST "
                        "(default /bin/NAME) with every library ldd finds for it, at "
                        "the host's paths (repeatable; e.g. dsm-dataplane and DPDK PMDs)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=ARGS",
                   help="command-line arguments for test NAME (shell-quoted; repeatable)")
    p.add_argument("--allow-pattern", action="append", default=[], metavar="REGEX",
                   help="kernel log lines matching REGEX are not problems (repeatable)")
    args = p.parse_args(argv)
    for opt in ("timeout", "test_timeout", "mem", "smp"):
        if getattr(args, opt) <= 0:
            p.error("--%s must be positive" % opt.replace("_", "-"))
    return args


def on_signal(signum, _frame):
    raise Interrupted("interrupted by signal %d" % signum)


def run_guest(args, workdir, log_path):
    """Set up, boot, judge; returns the exit status."""
    kver = pick_kver(args.kver)
    qemu, busybox = find_tools()
    plan = Plan(args, kver)
    try:
        allow = [re.compile(a) for a in args.allow_pattern]
    except re.error as e:
        raise SetupError("--allow-pattern: %s" % e)
    initrd = build_initramfs(plan, busybox, busybox_applets(busybox), workdir)
    cmd = qemu_command(qemu, kver, initrd, args)
    print("kmod guest: booting %s (%s)" % (kver, " ".join(shlex.quote(c) for c in cmd)),
          flush=True)
    run = boot(cmd, log_path, args)
    if run.qemu_rc and not any(KERNEL_STAMP.search(line) for line in run.lines):
        raise SetupError("qemu failed (exit %s) before the kernel printed anything; "
                         "its output is above" % run.qemu_rc)
    return judge(run, plan, allow)


def log_location(args, workdir):
    """(path, temporary): a temporary log outlives the workdir, and is
    removed only if the run passes."""
    if args.log:
        return args.log, False
    if args.workdir:
        return os.path.join(workdir, "serial.log"), False
    fd, path = tempfile.mkstemp(prefix="kmod-guest-", suffix=".log")
    os.close(fd)
    return path, True


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = args.workdir or tempfile.mkdtemp(prefix="kmod-guest-")
    log_path, temporary = log_location(args, workdir)
    status = 2
    try:
        status = run_guest(args, workdir, log_path)
    except (SetupError, Interrupted, OSError, subprocess.CalledProcessError) as e:
        print("kmod guest: ERROR: %s" % e, file=sys.stderr)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        logged = os.path.exists(log_path) and os.path.getsize(log_path) > 0
        if temporary and (status == 0 or not logged):
            os.unlink(log_path)
    if status != 0 and logged:
        print("kmod guest: serial log: %s" % log_path)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
