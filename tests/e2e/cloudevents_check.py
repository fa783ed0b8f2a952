#!/usr/bin/env python3
"""Checks CloudEvents records (kcat -J lines) against the plain format's.

  cloudevents_check.py PLAIN BINARY STRUCTURED CREATED_AT BINARY_SOURCE STRUCTURED_SOURCE

PLAIN, BINARY and STRUCTURED hold the records of the same events shipped by
three shippers (--format=plain, cloudevents, cloudevents-structured), each
to its own topic prefix (plain., bin., str.); CREATED_AT holds "id|usec"
lines (created_at of the outbox.events rows, microseconds since the epoch).

Each CloudEvents record must be accepted by the CloudEvents Python SDK
(cloudevents.kafka.from_binary / from_structured); then the attributes the
record holds (not the SDK's event, which makes up an id and a time where
they are missing) are checked here against the CloudEvents 1.0 spec,
independently of the shipper's code: specversion "1.0", id and type non-empty, source a
URI-reference (RFC 3986), time RFC 3339 and equal to created_at, subject the
aggregate id.  Against the plain record of the same event: the same topic
(after the prefix), partition, key bytes and headers (minus ce_ and
content-type ones, which the CloudEvents formats never take from an event),
and in binary mode the same value bytes; in structured mode the data member
holds the plain value's bytes.

Prints one line per problem, then "N events: B binary, S structured, P problems".
"""
import datetime
import json
import re
import sys

from cloudevents.kafka import KafkaMessage, from_binary, from_structured

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
AUTHORITY = re.compile(r"^//(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2}|\[[0-9A-Fa-f:.]+\])*")
PATH = re.compile(r"^(?:/|" + PCHAR + r")*")
TAIL = re.compile(r"^(?:\?(?:" + PCHAR + r"|[/?])*)?(?:#(?:" + PCHAR + r"|[/?])*)?$")


def rfc3339_usec(text):
    """Microseconds since the epoch of an RFC 3339 date-time, or None."""
    m = RFC3339.match(text or "")
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = (m.group(7) or ".")[1:]
    offset = m.group(8)
    try:
        tz = datetime.timezone.utc
        if offset not in ("Z", "z"):
            sign = 1 if offset[0] == "+" else -1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        t = datetime.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz)
    except ValueError:
        return None
    return int(t.timestamp()) * 1000000 + int((fraction + "000000")[:6])


def uri_reference(text):
    """Whether text is a non-empty URI-reference (RFC 3986, 4.1)."""
    if not text:
        return False
    rest = text
    scheme = SCHEME.match(rest)
    if scheme:
        rest = rest[scheme.end():]
    elif ":" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        return False        # a relative reference's first segment has no colon
    authority = AUTHORITY.match(rest)
    if authority:
        rest = rest[authority.end():]
    rest = rest[PATH.match(rest).end():]
    return TAIL.match(rest) is not None


def reserved(name):
    return name.lower().startswith("ce_") or name.lower() == "content-type"


def header_pairs(record):
    h = record.get("headers") or []
    return list(zip(h[0::2], h[1::2]))


def by_id(path, prefix):
    records = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            event_id = dict(header_pairs(r))["id"]
            if event_id in records:
                raise SystemExit("%s: event %s twice" % (path, event_id))
            r["suffix"] = r["topic"][len(prefix):] if r["topic"].startswith(prefix) else None
            records[event_id] = r
    return records


def bytes_of(text):
    return None if text is None else text.encode("utf-8")


class Checker:
    def __init__(self, created_at):
        self.created_at = created_at
        self.problems = 0

    def problem(self, event_id, what):
        print("event %s: %s" % (event_id, what))
        self.problems += 1

    def same(self, event_id, what, want, have):
        if want != have:
            self.problem(event_id, "%s %r, want %r" % (what, have, want))

    def attributes(self, event_id, plain, attrs, source):
        """The attributes every CloudEvent of this event must have."""
        headers = dict(header_pairs(plain))
        self.same(event_id, "specversion", "1.0", attrs.get("specversion"))
        self.same(event_id, "id", event_id, attrs.get("id"))
        if not attrs.get("id"):
            self.problem(event_id, "empty id")
        if not uri_reference(attrs.get("source")):
            self.problem(event_id, "source %r is no URI-reference" % attrs.get("source"))
        self.same(event_id, "source", source, attrs.get("source"))
        self.same(event_id, "type", headers.get("event_type"), attrs.get("type"))
        if not attrs.get("type"):
            self.problem(event_id, "empty type")
        if event_id in self.created_at:
            usec = rfc3339_usec(attrs.get("time"))
            if usec is None:
                self.problem(event_id, "time %r is not RFC 3339" % attrs.get("time"))
            self.same(event_id, "time (microseconds)", self.created_at[event_id], usec)
        elif "time" in attrs:
            self.problem(event_id, "time %r for a created_at without time zone" % attrs["time"])
        self.same(event_id, "subject", plain["key"] or None, attrs.get("subject"))

    def record(self, event_id, plain, record):
        """What a CloudEvents record keeps of the plain one."""
        self.same(event_id, "topic", plain["suffix"], record["suffix"])
        self.same(event_id, "partition", plain["partition"], record["partition"])
        self.same(event_id, "key", bytes_of(plain["key"]), bytes_of(record["key"]))
        self.same(event_id, "headers",
                  [p for p in header_pairs(plain) if not reserved(p[0])],
                  [p for p in header_pairs(record) if not reserved(p[0])])

    def binary(self, event_id, plain, record, source):
        self.record(event_id, plain, record)
        self.same(event_id, "value", bytes_of(plain["payload"]), bytes_of(record["payload"]))
        pairs = header_pairs(record)
        names = [n for n, _ in pairs if reserved(n)]
        if len(names) != len(set(names)) or any(n != n.lower() for n in names):
            self.problem(event_id, "ce_ headers repeated or not lower case: %r" % names)
        headers = {n: (v or "").encode() for n, v in pairs}
        try:
            from_binary(KafkaMessage(headers=headers, key=bytes_of(record["key"]),
                                     value=bytes_of(record["payload"])),
                        data_unmarshaller=lambda b: b)
        except Exception as e:  # the SDK refused the record
            self.problem(event_id, "the CloudEvents SDK refused it: %r" % e)
        # The record's own attributes: the SDK makes up an id and a time
        # where they are missing, so its event cannot tell.
        attrs = {n[3:]: v for n, v in pairs if n.startswith("ce_")}
        if "content-type" in dict(pairs):
            attrs["datacontenttype"] = dict(pairs)["content-type"]
        self.attributes(event_id, plain, attrs, source)
        want_type = None
        if plain["payload"] is not None:
            try:
                json.loads(plain["payload"])
                want_type = "application/json"
            except ValueError:
                want_type = "text/plain; charset=utf-8"
        self.same(event_id, "datacontenttype", want_type, attrs.get("datacontenttype"))

    def structured(self, event_id, plain, record, source):
        self.record(event_id, plain, record)
        pairs = header_pairs(record)
        self.same(event_id, "headers of the CloudEvents formats",
                  [("content-type", "application/cloudevents+json")],
                  [p for p in pairs if reserved(p[0])])
        headers = {n: (v or "").encode() for n, v in pairs}
        value = bytes_of(record["payload"])
        try:
            from_structured(KafkaMessage(headers=headers, key=bytes_of(record["key"]), value=value))
        except Exception as e:
            self.problem(event_id, "the CloudEvents SDK refused it: %r" % e)
        doc = json.loads(value)
        self.attributes(event_id, plain, {n: v for n, v in doc.items() if n != "data"}, source)
        if plain["payload"] is None:
            if "data" in doc or "datacontenttype" in doc:
                self.problem(event_id, "data or datacontenttype without a payload")
            return
        try:
            json.loads(plain["payload"])
        except ValueError:
            self.same(event_id, "text data", plain["payload"], doc.get("data"))
            self.same(event_id, "datacontenttype", "text/plain; charset=utf-8", doc.get("datacontenttype"))
            return
        self.same(event_id, "datacontenttype", "application/json", doc.get("datacontenttype"))
        # The data member is the payload's bytes as they were, the value's end.
        want_end = b',"data":' + bytes_of(plain["payload"]) + b"}"
        if not value.endswith(want_end):
            self.problem(event_id, "value %r does not end with the payload's bytes %r" % (value[-80:], want_end[-80:]))


def main():
    plain_path, binary_path, structured_path, created_path, binary_source, structured_source = sys.argv[1:7]
    created_at = {}
    for line in open(created_path):
        if line.strip():
            event_id, usec = line.strip().split("|")
            created_at[event_id] = int(usec)
    plain = by_id(plain_path, "plain.")
    binary = by_id(binary_path, "bin.")
    structured = by_id(structured_path, "str.")
    c = Checker(created_at)
    for event_id in sorted(set(binary) - set(plain)) + sorted(set(structured) - set(plain)):
        c.problem(event_id, "not shipped in the plain format")
    for event_id, record in sorted(plain.items()):
        if event_id in binary:
            c.binary(event_id, record, binary[event_id], binary_source)
        if event_id in structured:
            c.structured(event_id, record, structured[event_id], structured_source)
    print("%d events: %d binary, %d structured, %d problems"
          % (len(plain), len(binary), len(structured), c.problems))
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
