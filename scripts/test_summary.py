#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Print one line per test from meson's testlog.json, then the closing
"N passed, N failed, N skipped" line.  Exit 1 if anything failed or nothing
ran."""
import json
import sys

counts = {"passed": 0, "failed": 0, "skipped": 0}
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        res = t["result"]
        kind = "passed" if res == "OK" else "skipped" if res == "SKIP" else "failed"
        counts[kind] += 1
        print("%-7s %-55s %6.1f s" % (res, "%s:%s" % (t.get("suite", ["?"])[0], t["name"]),
                                      t.get("duration", 0)))
print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
sys.exit(1 if counts["failed"] or not counts["passed"] else 0)
