#!/usr/bin/env python3
"""Checks and measures what a relay delivered, for bench/debezium.sh.

  check.py verify NAME TRUTH DUMP START_MS OUT_JSON
      NAME      label for messages (outbox_pg, debezium)
      TRUTH     the phase's events from PostgreSQL, one a line, tab-separated:
                ref, id, aggregatetype, aggregateid, payload as text,
                commit time in epoch milliseconds (fractional)
      DUMP      the records the relay produced in this phase, kcat -J lines
      START_MS  when the relay process was started, epoch milliseconds
      OUT_JSON  the figures, written as one JSON object

      Every event of TRUTH must be in DUMP at least once, in topic
      outbox.event.<aggregatetype>, with key <aggregateid> byte for byte and
      a value equal to the payload as JSON (numbers compared as decimals).
      A missing or altered event fails (exit status 1) with examples; the
      figures are not written then.  Duplicates are counted and reported.
      Records are matched to events by "ref", a number unique to each event
      that the harness writes into every payload.

  check.py compare TRUTH DUMP_A DUMP_B OUT_JSON
      The same events delivered by two relays: topic and key must be
      byte-identical for every event, the value byte-identical or, failing
      that, equal as JSON; says which.  Partitions and headers are reported,
      never failed on.

  check.py report FIGURES STATS_DIR
      The results table (markdown) from the harness's figures (lines of
      PHASE.SYSTEM, KEY, VALUE, tab-separated) and the JSON written by
      verify (STATS_DIR/PHASE.SYSTEM.json) and compare (identity.json).
      SYSTEM is outbox_pg, debezium (defaults) or debezium-tuned; each
      figure compares outbox_pg with the better Debezium variant for it
      (the higher rate, the lower time, latency, CPU or memory) and names
      the variant.
"""
import json
import sys
from decimal import Decimal


def die(msg):
    print("check.py: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_json(text):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def read_truth(path):
    truth = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            ref, eid, atype, aid, payload, commit_ms = line.rstrip("\n").split("\t")
            truth[int(ref)] = (eid, atype, aid, payload, float(commit_ms))
    return truth


def read_dump(path, refs):
    """Records of DUMP whose value carries a ref in REFS, as
    {ref: [record, ...]} in the order read; and how many others there were."""
    by_ref = {}
    others = 0
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            try:
                ref = int(json.loads(rec["payload"])["ref"])
            except (TypeError, ValueError, KeyError):
                others += 1
                continue
            if ref not in refs:
                others += 1
                continue
            by_ref.setdefault(ref, []).append(rec)
    return by_ref, others


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    i = max(1, int(len(sorted_values) * p / 100.0 + 0.999999)) - 1
    return sorted_values[min(i, len(sorted_values) - 1)]


def header_names(rec):
    h = rec.get("headers") or []
    return [h[i] for i in range(0, len(h) - 1, 2)]


def cmd_verify(name, truth_path, dump_path, start_ms, out_path):
    truth = read_truth(truth_path)
    by_ref, others = read_dump(dump_path, truth)
    missing = [r for r in truth if r not in by_ref]
    altered = []
    latencies = []
    duplicates = 0
    first_ts = last_ts = None
    for ref, recs in by_ref.items():
        eid, atype, aid, payload, commit_ms = truth[ref]
        want_value = parse_json(payload)
        for rec in recs:
            problems = []
            if rec["topic"] != "outbox.event." + atype:
                problems.append("topic %r" % rec["topic"])
            if rec.get("key") != aid:
                problems.append("key %r, not %r" % (rec.get("key"), aid))
            try:
                if parse_json(rec["payload"]) != want_value:
                    problems.append("value %r" % rec["payload"][:200])
            except (TypeError, ValueError):
                problems.append("value not JSON: %r" % (rec["payload"] or "")[:200])
            if problems:
                altered.append((ref, problems))
        duplicates += len(recs) - 1
        ts = min(r["ts"] for r in recs)
        latencies.append(ts - commit_ms)
        tss = [r["ts"] for r in recs]
        first_ts = min(tss) if first_ts is None else min(first_ts, min(tss))
        last_ts = max(tss) if last_ts is None else max(last_ts, max(tss))
    if missing or altered:
        print("check.py: %s LOST OR ALTERED EVENTS: %d of %d missing, %d records altered"
              % (name, len(missing), len(truth), len(altered)), file=sys.stderr)
        for ref in sorted(missing)[:5]:
            print("  missing ref %d (id %s)" % (ref, truth[ref][0]), file=sys.stderr)
        for ref, problems in altered[:5]:
            print("  ref %d: %s" % (ref, "; ".join(problems)), file=sys.stderr)
        sys.exit(1)
    latencies.sort()
    headers = {}
    for recs in by_ref.values():
        for n in header_names(recs[0]):
            headers[n] = headers.get(n, 0) + 1
    stats = {
        "name": name,
        "events": len(truth),
        "records": sum(len(v) for v in by_ref.values()),
        "duplicates": duplicates,
        "other_records": others,
        "first_append_ms": first_ts,
        "last_append_ms": last_ts,
        "start_ms": start_ms,
        "seconds_from_start": (last_ts - start_ms) / 1000.0 if last_ts else None,
        "seconds_first_to_last": (last_ts - first_ts) / 1000.0 if last_ts else None,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else None,
        },
        "header_names": headers,
    }
    with open(out_path, "w") as f:
        json.dump(stats, f, indent=1)
    print("   %s: all %d events delivered intact (%d duplicates, %d other records)"
          % (name, len(truth), duplicates, others))


def cmd_compare(truth_path, a_path, b_path, out_path):
    truth = read_truth(truth_path)
    a, _ = read_dump(a_path, truth)
    b, _ = read_dump(b_path, truth)
    differ = []
    value_bytes_equal = 0
    value_json_only = 0
    partitions_equal = 0
    example_json_only = None
    for ref in truth:
        if ref not in a or ref not in b:
            differ.append((ref, "missing from %s" % ("the first" if ref not in a else "the second")))
            continue
        ra, rb = a[ref][0], b[ref][0]
        if ra["topic"] != rb["topic"]:
            differ.append((ref, "topic %r vs %r" % (ra["topic"], rb["topic"])))
        if ra.get("key") != rb.get("key"):
            differ.append((ref, "key %r vs %r" % (ra.get("key"), rb.get("key"))))
        if ra["payload"] == rb["payload"]:
            value_bytes_equal += 1
        elif parse_json(ra["payload"]) == parse_json(rb["payload"]):
            value_json_only += 1
            if example_json_only is None:
                example_json_only = (ra["payload"], rb["payload"])
        else:
            differ.append((ref, "value %r vs %r" % (ra["payload"][:120], rb["payload"][:120])))
        if ra["partition"] == rb["partition"]:
            partitions_equal += 1
    if differ:
        print("check.py: THE RELAYS DELIVERED DIFFERENT RECORDS for %d of %d events"
              % (len(differ), len(truth)), file=sys.stderr)
        for ref, what in differ[:5]:
            print("  ref %d: %s" % (ref, what), file=sys.stderr)
        sys.exit(1)
    one = next(iter(truth))
    stats = {
        "events": len(truth),
        "topic_key_bytes_equal": len(truth),
        "value_bytes_equal": value_bytes_equal,
        "value_json_equal_only": value_json_only,
        "example_json_only": example_json_only,
        "partitions_equal": partitions_equal,
        "headers_a": a[one][0].get("headers"),
        "headers_b": b[one][0].get("headers"),
        "example_key": a[one][0].get("key"),
        "example_value": a[one][0].get("payload"),
    }
    with open(out_path, "w") as f:
        json.dump(stats, f, indent=1)
    how = ("byte-identical" if value_json_only == 0 else
           "%d byte-identical, %d equal as JSON only" % (value_bytes_equal, value_json_only))
    print("   identical: %d events, topics and keys byte-identical, values %s; same partition %d"
          % (len(truth), how, partitions_equal))


def read_figures(path, stats_dir):
    import os
    figs = {}
    with open(path) as f:
        for line in f:
            where, key, value = line.rstrip("\n").split("\t")
            figs.setdefault(where, {})[key] = value
    for name in os.listdir(stats_dir):
        if name.endswith(".json"):
            with open(os.path.join(stats_dir, name)) as f:
                figs.setdefault(name[:-5], {})["stats"] = json.load(f)
    return figs


DEBEZIUM_VARIANTS = (("debezium", "default"), ("debezium-tuned", "tuned"))


def cmd_report(figures_path, stats_dir):
    figs = read_figures(figures_path, stats_dir)
    rows = []
    variants = [(s, label) for s, label in DEBEZIUM_VARIANTS
                if any(w.endswith("." + s) for w in figs)]

    def num(where, key):
        v = figs.get(where, {})
        if key.startswith("stats."):
            v = v.get("stats", {})
            for k in key[6:].split("."):
                v = v.get(k) if isinstance(v, dict) else None
            return v
        v = v.get(key)
        return float(v) if v not in (None, "") else None

    def row(label, value_of, fmt, target=None, fn=None, bigger_better=False):
        """value_of(SYSTEM): the figure; outbox_pg is compared with the
        better Debezium variant for this figure (bigger or smaller)."""
        ours = value_of("outbox_pg")
        theirs = [(value_of(s), name) for s, name in variants]
        if fn:
            ours = fn(ours)
            theirs = [(fn(v), name) for v, name in theirs]
        known = [(v, name) for v, name in theirs if v is not None]
        best, best_name = (max(known) if bigger_better else min(known)) if known else (None, "")
        ratio = ours / best if ours is not None and best not in (None, 0) else None
        verdict = ""
        if target is not None and ratio is not None:
            met = ratio >= target if bigger_better else ratio <= target
            verdict = "%s %.2f×: %s" % ("≥" if bigger_better else "≤", target,
                                         "met" if met else "MISSED")
        rows.append("| %s | %s | %s | %s | %s | %s |" % (
            label, fmt(ours), " | ".join(fmt(v) for v, _ in theirs), best_name,
            "%.3f×" % ratio if ratio is not None else "", verdict))

    f0 = lambda v: "—" if v is None else "{:,.0f}".format(v)
    f1 = lambda v: "—" if v is None else "{:,.1f}".format(v)
    f2 = lambda v: "—" if v is None else "{:,.2f}".format(v)
    mb = lambda v: None if v is None else v / 1024.0
    mib = lambda v: "—" if v is None else "{:,.2f} MB".format(v / 1e6)

    def per(phase, key):
        return lambda system: num(phase + "." + system, key)

    events = num("drain.outbox_pg", "stats.events")
    out = []
    out.append("| figure | outbox_pg | %s | better Debezium | outbox_pg / better | target |"
               % " | ".join("Debezium " + name for _, name in variants))
    out.append("|---|---:|%s---|---:|---|" % ("---:|" * len(variants)))
    rate = lambda v: None if v is None else events / v
    row("drain %s events: events/s from relay start" % f0(events),
        per("drain", "stats.seconds_from_start"), f0, 5.0, rate, True)
    row("drain: s from relay start to last record", per("drain", "stats.seconds_from_start"), f2)
    row("drain: events/s first record to last", per("drain", "stats.seconds_first_to_last"),
        f0, None, rate, True)
    resource_rows = (("relay_cpu_s", "relay CPU s", f2, None),
                     ("walsender_cpu_s", "walsender CPU s", f2, None),
                     ("broker_cpu_s", "Kafka broker CPU s", f2, None),
                     ("relay_rss_kb", "relay peak RSS MB", f1, mb))
    for key, label, fmt, fn in resource_rows:
        row("drain: " + label, per("drain", key), fmt, None, fn)
    for key, label in (("relay_cpu_s", "relay"), ("walsender_cpu_s", "walsender"),
                       ("broker_cpu_s", "Kafka broker")):
        row("drain: %s CPU µs/event" % label, per("drain", key), f1, None,
            lambda v: None if v is None or not events else v * 1e6 / events)
    rates = sorted({int(w.split(".")[0][6:]) for w in figs if w.startswith("steady")})
    for r in rates:
        ph = "steady%d" % r
        row("steady %s/s: events/s written" % f0(r), per(ph, "achieved_rate"), f0, None, None, True)
        for p in ("p50", "p95", "p99", "max"):
            row("steady %s/s: latency %s ms" % (f0(r), p), per(ph, "stats.latency_ms." + p), f1,
                0.5 if p == "p99" else None)
        for key, label, fmt, fn in resource_rows:
            row("steady %s/s: %s" % (f0(r), label), per(ph, key), fmt, None, fn)
    peak = lambda s: max([num(w, "relay_rss_kb") or 0 for w in figs
                          if w.endswith("." + s) and not w.startswith("idle")] or [None])
    row("peak RSS of the relay, drain and steady, MB", peak, f1, 0.05, mb)
    rows_text = out + rows
    rows_text.append("")
    rows_text.append("| idle outbox, other table churning | outbox_pg | Debezium, defaults | Debezium, heartbeat (recommended) |")
    rows_text.append("|---|---:|---:|---:|")
    idle = ["idle.outbox_pg", "idle.debezium", "idle.debezium-heartbeat"]
    for key, label in (("wal_written", "WAL written during the churn"),
                       ("retained_confirmed", "retained at the end: current − confirmed_flush_lsn"),
                       ("retained_confirmed_max", "largest current − confirmed_flush_lsn seen (1 s samples)"),
                       ("retained_restart", "retained at the end: current − restart_lsn")):
        rows_text.append("| %s | %s |" % (label, " | ".join(mib(num(w, key)) for w in idle)))
    ident = figs.get("identity", {}).get("stats")
    if ident:
        rows_text.append("")
        rows_text.append(
            "identity: %d events delivered by both; topics and keys byte-identical; values %s; "
            "same partition for %d; headers outbox_pg %s, Debezium %s"
            % (ident["events"],
               "byte-identical" if ident["value_json_equal_only"] == 0 else
               "%d byte-identical, %d equal as JSON only (e.g. %r vs %r)"
               % (ident["value_bytes_equal"], ident["value_json_equal_only"],
                  ident["example_json_only"][0][:80], ident["example_json_only"][1][:80]),
               ident["partitions_equal"],
               sorted(figs["drain.outbox_pg"]["stats"]["header_names"]),
               sorted(figs["drain.debezium"]["stats"]["header_names"])))
    dups = ["%s %d" % (w, v["stats"]["duplicates"]) for w, v in sorted(figs.items())
            if "stats" in v and v["stats"].get("duplicates")]
    rows_text.append("duplicates: " + (", ".join(dups) if dups else "none"))
    loads = ["%s %s → %s" % (w, v.get("load_before", "?"), v.get("load_after", "?"))
             for w, v in sorted(figs.items()) if "load_before" in v]
    rows_text.append("load average (1, 5, 15 min) before → after each phase: " + "; ".join(loads))
    foreign = sorted({v[k] for v in figs.values() for k in ("foreign_before", "foreign_after") if k in v})
    rows_text.append("servers this run did not start, seen at phase boundaries: " + ", ".join(foreign))
    rows_text.append("load average at start %s, at end %s" % (
        figs["run"].get("load_start"), figs["run"].get("load_end")))
    print("\n".join(rows_text))


def main(argv):
    if len(argv) == 7 and argv[1] == "verify":
        cmd_verify(argv[2], argv[3], argv[4], float(argv[5]), argv[6])
    elif len(argv) == 4 and argv[1] == "report":
        cmd_report(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "compare":
        cmd_compare(argv[2], argv[3], argv[4], argv[5])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
