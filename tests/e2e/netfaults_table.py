#!/usr/bin/env python3
"""Per-case counts for tests/e2e/relay_netfaults.sh.

  netfaults_table.py CASES_TSV RECORDS_FILE

CASES_TSV: one line per case, tab-separated: name, start (epoch seconds),
end, kB behind just before the end, noticed (seconds or "-"), recovery (seconds).  RECORDS_FILE:
kcat -J lines of the topic.  A case's window runs from its start to the
next case's start (the last one's to the end of time): an event belongs to
the case in whose window it was written (outbox.events.created_at), a
duplicate record to the case in whose window it was produced (the
record's timestamp: a duplicate is a new produce() after a reconnect).

Prints a Markdown table (case, missing, duplicates, kB behind, noticed s,
recovery s)
and, last, "missing=N duplicates=N" over every case.
"""
import json
import subprocess
import sys
from bisect import bisect_right
from collections import defaultdict


def main():
    cases = []
    with open(sys.argv[1]) as f:
        for line in f:
            name, start, end, behind, noticed, recovery = line.rstrip("\n").split("\t")
            cases.append((name, float(start), behind, noticed, recovery))
    starts = [c[1] for c in cases]

    def case_of(epoch):
        i = bisect_right(starts, epoch) - 1
        return cases[i][0] if i >= 0 else "before"

    out = subprocess.run(
        ["psql", "-qXAt", "-F", "\t", "-c",
         "SELECT id, extract(epoch FROM created_at) FROM outbox.events"],
        check=True, capture_output=True, text=True).stdout
    written = {}
    for line in out.splitlines():
        event_id, epoch = line.split("\t")
        written[event_id] = float(epoch)

    copies = defaultdict(list)
    with open(sys.argv[2]) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                h = rec.get("headers") or []
                copies[dict(zip(h[0::2], h[1::2])).get("id")].append(rec["ts"] / 1000.0)

    missing = defaultdict(int)
    duplicates = defaultdict(int)
    for event_id, epoch in written.items():
        if not copies.get(event_id):
            missing[case_of(epoch)] += 1
    for event_id, stamps in copies.items():
        for ts in sorted(stamps)[1:]:
            duplicates[case_of(ts)] += 1

    print("| case | missing | duplicates | behind (kB) | noticed (s) | recovery (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ["before"] + [c[0] for c in cases]:
        extra = next((c[2:] for c in cases if c[0] == name), ("-", "-", "-"))
        print("| %s | %d | %d | %s | %s | %s |" % ((name, missing[name], duplicates[name]) + tuple(extra)))
    print("missing=%d duplicates=%d" % (sum(missing.values()), sum(duplicates.values())))


if __name__ == "__main__":
    main()
