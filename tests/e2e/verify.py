#!/usr/bin/env python3
"""Checks Kafka records (kcat -J lines) against the outbox events in PostgreSQL.

  verify.py RECORDS_FILE [--table outbox.events] [--expect-duplicates]

Prints one line of counts and exits non-zero on any problem: an event
missing from Kafka, a record that is no event, a key, header or value that
differs from the row, or per-aggregate order differing from commit order
(the (commit_lsn, seq) position the plugin gives each event).
"""
import argparse
import json
import subprocess
import sys
from collections import defaultdict


def lsn_value(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def rows(table):
    query = (
        "SELECT json_build_object('id', id::text, 'aggregate_type', aggregate_type, "
        "'aggregate_id', aggregate_id, 'event_type', event_type, 'payload', payload::text, "
        "'headers', headers)::text FROM " + table
    )
    out = subprocess.run(["psql", "-qXAt", "-c", query], check=True,
                         capture_output=True, text=True).stdout
    return {r["id"]: r for r in (json.loads(line) for line in out.splitlines() if line)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("records")
    parser.add_argument("--table", default="outbox.events")
    parser.add_argument("--expect-duplicates", action="store_true")
    args = parser.parse_args()

    events = rows(args.table)
    problems = []
    seen = defaultdict(int)
    last_position = {}
    records = 0
    with open(args.records) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            records += 1
            h = rec.get("headers") or []
            headers = dict(zip(h[0::2], h[1::2]))
            event_id = headers.get("id")
            row = events.get(event_id)
            if row is None:
                problems.append("record is no event: %s" % line.strip()[:200])
                continue
            seen[event_id] += 1
            if rec["key"] != row["aggregate_id"]:
                problems.append("event %s: key %r, want %r" % (event_id, rec["key"], row["aggregate_id"]))
            if rec["topic"] != "outbox.event." + row["aggregate_type"]:
                problems.append("event %s: topic %s" % (event_id, rec["topic"]))
            if json.loads(rec["payload"]) != json.loads(row["payload"]):
                problems.append("event %s: value %s, want %s" % (event_id, rec["payload"][:100], row["payload"][:100]))
            for name, want in [("event_type", row["event_type"]), ("aggregate_type", row["aggregate_type"])] + \
                    list((row["headers"] or {}).items()):
                if headers.get(name) != want:
                    problems.append("event %s: header %s=%r, want %r" % (event_id, name, headers.get(name), want))
            position = (lsn_value(headers["outbox_commit_lsn"]), int(headers["outbox_seq"]))
            key = (rec["topic"], rec["key"])
            previous = last_position.get(key)
            # A duplicate after a restart repeats older positions; only the
            # first delivery of each event must be in commit order.
            if seen[event_id] == 1:
                if previous is not None and position <= previous:
                    problems.append("aggregate %s: event %s at %s after %s" % (key, event_id, position, previous))
                last_position[key] = position

    missing = [i for i in events if seen[i] == 0]
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    if missing:
        problems.append("%d events missing from Kafka, e.g. %s" % (len(missing), missing[:3]))
    if duplicates and not args.expect_duplicates:
        problems.append("%d duplicate records" % duplicates)
    aggregates = len({r["aggregate_id"] for r in events.values()})
    print("events=%d records=%d missing=%d duplicates=%d aggregates=%d problems=%d"
          % (len(events), records, len(missing), duplicates, aggregates, len(problems)))
    for p in problems[:20]:
        print("#   " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
