#!/usr/bin/env python3
"""What README.md says against what the shipper does.

  readme_drift.py config README HELP_FILE      configuration table vs --help
  readme_drift.py metrics README METRICS_FILE  metrics table vs /metrics
  readme_drift.py standby-line README          the hot-standby log line, as a regex

The first two print one line per rule, NAME<TAB>EXPECTED<TAB>ACTUAL, for
tests/e2e/readme_drift.sh to count with lib.sh's check: what one side
lacks is listed, so a failure names it.  Standard library only.
"""
import re
import sys

PREFIX = "outbox_shipper_"


def table_after(lines, header):
    """The rows of the markdown table whose header line starts with header."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row):
    """A row's cells; escaped pipes (\\|) stay inside their cell."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def kafka_variable(name):
    """Every spelling of the librdkafka variables as one pattern."""
    if name.startswith("OUTBOX_KAFKA_"):
        return "OUTBOX_KAFKA_<NAME>_FILE" if name.endswith("_FILE") else "OUTBOX_KAFKA_<NAME>"
    return name


def variables(text):
    return {kafka_variable(v) for v in re.findall(r"OUTBOX_[A-Z_]+(?:<NAME>[A-Z_]*|\*)?", text)}


def rule_sets(name, left, right, left_name, right_name):
    """Two rules: nothing of one side missing from the other ("(none)": an
    empty field would vanish in the shell's tab-separated read)."""
    for (a, a_name), (b, b_name) in (((left, left_name), (right, right_name)),
                                     ((right, right_name), (left, left_name))):
        print("%s: in %s, not in %s\t(none)\t%s"
              % (name, a_name, b_name, " ".join(sorted(a - b)) or "(none)"))


def config(readme, help_text):
    rows = table_after(readme, "| flag | variable |")
    flag_cells = " ".join(cells(r)[0] for r in rows)
    var_cells = " ".join(cells(r)[1] for r in rows)
    readme_long = set(re.findall(r"--[a-z][a-z-]*", flag_cells))
    readme_short = set(re.findall(r"`(-[A-Za-z])\b", flag_cells))
    help_long = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))
    help_short = set(re.findall(r"^\s+(-[A-Za-z]),", help_text, re.M))
    print("README's configuration table has rows\tTrue\t%s" % (len(rows) > 10))
    rule_sets("long flags", readme_long, help_long, "README", "--help")
    rule_sets("short flags", readme_short, help_short, "README", "--help")
    rule_sets("variables", variables(var_cells), variables(help_text), "README", "--help")


def metrics(readme, exposition):
    rows = table_after(readme, "| metric | |")
    documented = set()
    for row in rows:
        for name in re.findall(r"`([a-z_]+)(?:\{[^}]*\})?`", cells(row)[0]):
            documented.add(name if name.startswith("process_") else PREFIX + name)
    exported = set(re.findall(r"^# TYPE (\S+) ", exposition, re.M))
    print("README's metrics table has rows\tTrue\t%s" % (len(rows) > 5))
    rule_sets("metrics", documented, exported, "README", "/metrics")


def standby_line(readme):
    text = "\n".join(readme)
    quote = re.search(r"\*\*Hot standby\*\*: a second shipper on the same slot logs\s+`([^`]+)`", text)
    # "…" stands for a quoted name ([^"]+ there, so that it cannot swallow
    # the rest of the line) or for any text.
    pieces = quote.group(1).split("…")
    pattern = re.escape(pieces[0])
    for piece in pieces[1:]:
        pattern += ('[^"]+' if pattern.endswith('"') else ".+") + re.escape(piece)
    print(pattern)


def main():
    mode, readme = sys.argv[1], open(sys.argv[2]).read().splitlines()
    if mode == "config":
        config(readme, open(sys.argv[3]).read())
    elif mode == "metrics":
        metrics(readme, open(sys.argv[3]).read())
    elif mode == "standby-line":
        standby_line(readme)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
