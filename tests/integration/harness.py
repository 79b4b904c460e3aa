# SPDX-License-Identifier: BSD-3-Clause
"""What every integration test script shares: the assertion, the result
line of a dsm-apptest application, and the runner that turns
`script.py BUILD_DIR [test-name ...]` into PASS/FAIL lines and an exit code
(`script.py --list` names the tests: meson makes one test of each).
"""
import os
import traceback


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def app_result(proc, timeout=120):
    """Wait for a dsm-apptest application and return its result line as a
    dict; it must have exited 0."""
    rc = proc.wait(timeout)
    out = proc.output()
    lines = [l for l in out.splitlines() if l.startswith("result:")]
    check(rc == 0 and lines, "%s exited %s:\n%s\n%s" % (proc.name, rc, out[-2000:],
                                                        proc.errors()[-2000:]))
    return dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)


def run_tests(tests, argv, module_globals):
    """Run the tests named in argv[2:] (all without names) with the
    module's BUILD set to argv[1]; 0 if all passed, 1 otherwise, 2 on
    bad usage.  `--list` prints the test names, one per line."""
    if argv[1:] == ["--list"]:
        print("\n".join(t.__name__ for t in tests))
        return 0
    if len(argv) < 2:
        print(module_globals.get("__doc__") or "usage: %s BUILD_DIR [test ...]" % argv[0])
        return 2
    module_globals["BUILD"] = os.path.abspath(argv[1])
    wanted = set(argv[2:])
    passed = failed = 0
    for t in tests:
        if wanted and t.__name__ not in wanted:
            continue
        try:
            t()
            passed += 1
            print("PASS %s" % t.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % t.__name__, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0
