#!/usr/bin/env python3
"""META.json (PGXN Meta Spec 1.0.0) against the spec and the sources.

  pgxn_meta.py ROOT SHIPPER_VERSION

Prints one line per rule, NAME<TAB>EXPECTED<TAB>ACTUAL, for
tests/e2e/pgxn_meta.sh to count with lib.sh's check.  Standard library
only.  PGXN wants semantic versions, so the control file's default_version
"0.1" is "0.1.0" here; the rules below hold the two together.
"""
import json
import os
import re
import sys

# The spec's required keys (https://pgxn.org/spec/, "Required Fields").
REQUIRED = ["abstract", "license", "maintainer", "meta-spec", "name", "provides", "version"]
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+)?$")


def rule(name, expected, actual):
    print("%s\t%s\t%s" % (name, expected, actual))


def control_settings(path):
    settings = {}
    for line in open(path):
        m = re.match(r"^\s*(\w+)\s*=\s*'([^']*)'", line)
        if m:
            settings[m.group(1)] = m.group(2)
    return settings


def semver(version):
    """PostgreSQL's "0.1" as PGXN's "0.1.0"."""
    return version + ".0" * (2 - version.count("."))


def main():
    root, shipper_version = sys.argv[1], sys.argv[2]
    meta = json.load(open(os.path.join(root, "META.json")))
    control = control_settings(os.path.join(root, "outbox_pg.control"))
    default_version = control.get("default_version", "")

    rule("META.json has every required key", " ".join(REQUIRED),
         " ".join(k for k in REQUIRED if k in meta))
    rule("meta-spec version", "1.0.0", meta.get("meta-spec", {}).get("version"))
    rule("name", "outbox_pg", meta.get("name"))
    rule("license (the spec's name for the PostgreSQL License)", "postgresql", meta.get("license"))
    rule("LICENSE is the PostgreSQL License", "PostgreSQL License",
         open(os.path.join(root, "LICENSE")).readline().strip())
    rule("abstract is one line", "True",
         str(bool(meta.get("abstract")) and "\n" not in meta["abstract"]))
    rule("maintainer", "outbox_pg contributors", meta.get("maintainer"))
    rule("version is a semantic version", "True", str(bool(SEMVER.match(meta.get("version", "")))))
    rule("version is the control file's default_version", semver(default_version), meta.get("version"))
    rule("version is the shipper's", shipper_version, meta.get("version"))

    provided = meta.get("provides", {})
    rule("provides exactly the extension", "outbox_pg", " ".join(sorted(provided)))
    ext = provided.get("outbox_pg", {})
    rule("provides: file is the extension script of default_version",
         "sql/outbox_pg--%s.sql" % default_version, ext.get("file"))
    rule("provides: the file exists", "True",
         str(os.path.isfile(os.path.join(root, ext.get("file", "-")))))
    rule("provides: version is the extension's", semver(default_version), ext.get("version"))
    rule("provides: docfile exists", "True",
         str(os.path.isfile(os.path.join(root, ext.get("docfile", "-")))))
    requires = meta.get("prereqs", {}).get("runtime", {}).get("requires", {})
    rule("prereqs: runtime requires PostgreSQL 14 or later", "14.0.0", requires.get("PostgreSQL"))


if __name__ == "__main__":
    main()
