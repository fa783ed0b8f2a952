#!/usr/bin/python3
"""Property-based test of the outbox_pg output plugin against docs/format.md.

Starts a throwaway PostgreSQL cluster (tests/helpers/pg.sh), creates the
extension, outbox tables of several layouts and column types, and two slots
(all metadata on; all metadata off).  Hypothesis generates batches of cases:
rows inserted into declared tables (optionally replayed with
outbox.replay()), events written with outbox.emit(), forged messages with
our prefix, and statements that must emit nothing.  A batch runs in one
transaction (committed, or prepared and committed); the slots are read once
per batch and every decoded message is mapped back to its case by its
position, then checked: it parses as one JSON object of the documented
shape and key order, and each field equals the source value (PostgreSQL's
own text of the stored value; JSON compared both byte for byte with the
canonical compact form and as values, numbers exactly as Decimal).

Environment: PROPERTY_SEED (default 20261129), PROPERTY_EXAMPLES (batches
per property, default 120; the deep-nesting property runs a third of them),
PROPERTY_SHRINK=1 (shrink a failure to a minimal example instead of
reporting the first failure of each kind), PROPERTY_ONLY=text (run only the
properties whose name contains text).
Ends with "N passed, M failed", counting properties.
"""

import datetime
import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from decimal import Decimal

import psycopg2
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_SH = os.path.join(ROOT, "tests", "helpers", "pg.sh")
SEED = int(os.environ.get("PROPERTY_SEED", "20261129"))
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "120"))
# Shrinking a failure re-runs the batch hundreds of times; the failure
# message names the failing case's SQL anyway.
SHRINK = os.environ.get("PROPERTY_SHRINK", "") not in ("", "0")
ONLY = os.environ.get("PROPERTY_ONLY", "")   # run the properties whose name has this

# docs/format.md: text nesting deeper than this is shipped as a string.
MAX_TEXT_DEPTH = 1000

# Rendering and comparing 1500-deep JSON recurses that deep.
sys.setrecursionlimit(50000)

# ---------------------------------------------------------------------------
# JSON helpers: PostgreSQL's escaping, compaction, nesting depth, parsing.

_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 8: "\\b", 12: "\\f",
                 10: "\\n", 13: "\\r", 9: "\\t"})


def json_str(s):
    """A string as JSON, escaped the way jsonb's output escapes it."""
    if s is None:
        return "null"
    return '"' + s.translate(_ESCAPES) + '"'


_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+', re.S)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def compact(text):
    """Valid JSON text without the whitespace outside strings."""
    return _STRING_OR_SPACE.sub(lambda m: m.group(1) or "", text)


def nesting_depth(text):
    depth = deepest = 0
    for c in _STRING.sub('""', text):
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


class Obj(list):
    """A parsed JSON object: its (key, value) pairs in order, duplicates kept."""


def _no_constants(name):
    raise ValueError("not JSON: " + name)


def parse_json(text):
    return json.loads(text, object_pairs_hook=Obj, parse_float=Decimal,
                      parse_int=Decimal, parse_constant=_no_constants)


def text_is_json(text):
    """The documented rule for text payloads: valid JSON, at most 1000 deep."""
    if nesting_depth(text) > MAX_TEXT_DEPTH:
        return False
    try:
        parse_json(text)
        return True
    except (ValueError, RecursionError):
        return False


def pair_surrogates(s):
    """A string as JSON reads it: a high and a low surrogate written next
    to each other (two escapes) are one character."""
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def same_value(ast, v, jsonb):
    """Whether parsed JSON v is the value ast denotes.  jsonb keeps the last
    of duplicate keys and no key order; json keeps the text as written."""
    kind = ast[0]
    if kind == "null":
        return v is None
    if kind in ("true", "false"):
        return v is (kind == "true")
    if kind == "num":
        return isinstance(v, Decimal) and Decimal(ast[1]) == v
    if kind == "str":
        return isinstance(v, str) and v == pair_surrogates(ast[1])
    if kind == "arr":
        return (type(v) is list and len(v) == len(ast[1])
                and all(same_value(a, x, jsonb) for a, x in zip(ast[1], v)))
    if not isinstance(v, Obj):
        return False
    if not jsonb:
        return (len(v) == len(ast[1])
                and all(k == pair_surrogates(ka) and same_value(a, x, False)
                        for (ka, a), (k, x) in zip(ast[1], v)))
    last = dict(ast[1])
    keys = [k for k, _ in v]
    return (len(set(keys)) == len(keys) and set(keys) == set(last)
            and all(same_value(last[k], x, True) for k, x in v))


def is_object_ast(ast):
    return ast is not None and ast[0] == "obj"


# ---------------------------------------------------------------------------
# Generating JSON: an AST, rendered with random whitespace and escapes.

SPECIAL_CHARS = ['"', "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f",
                 "\x7f", "\x80", "\u00e9", "\u2028", "\u2029", "\ufeff",
                 "\uffff", "\U0001f600", "\U00010000", "\U0010ffff", " ", "'",
                 "{", "}", "[", "]", ",", ":", "\u0301", "\u05d0"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
NUMBER_EDGES = ["0", "-0", "-0.0", "0.0", "0e0", "-0E-0", "1e308", "-1e308",
                "1.7976931348623157e308", "4.9e-324", "1E+308", "1e309",
                "123456789012345678901234567890.123456789012345678901234567890",
                "1e1000", "1e-1000", "-1E-1000", "0.1", "100e-2", "1.000000",
                "9223372036854775807", "-9223372036854775808",
                "18446744073709551616", "2.5E-7", "1e007", "0.0000001"]
COMMON_KEYS = ["a", "b", "", "a ", "traceparent", "\u00e9\U0001f600"]


class Gen:
    """Bulk content from one seed that Hypothesis draws.  Drawing every
    character through Hypothesis costs about 0.1 s per case here; the
    structure (which table, NULL or not, which kind of value, depth) is
    still drawn by Hypothesis, the characters and JSON trees come from
    random.Random(seed), weighted towards the edge cases."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def char(self, nul=False, surrogates=False):
        r = self.r
        x = r.random()
        if x < 0.40:
            return chr(r.randint(0x20, 0x7E))
        if x < 0.60:
            return r.choice(SPECIAL_CHARS)
        if x < 0.68:
            return chr(r.randint(0x01, 0x1F))
        if x < 0.80:
            c = r.randint(0xA0, 0xFFFD)
            return chr(c) if not 0xD800 <= c <= 0xDFFF else "\ufffd"
        if x < 0.92:
            return chr(r.randint(0x10000, 0x10FFFF))
        if x < 0.96 and nul:
            return "\x00"
        if surrogates:
            return r.choice(SURROGATES)
        return r.choice(SPECIAL_CHARS)

    def text(self, max_size=30, **kw):
        r = self.r
        n = r.choice([0, 1, 2, r.randint(0, max_size), r.randint(0, max_size)])
        return "".join(self.char(**kw) for _ in range(n))

    def number(self):
        r = self.r
        kind = r.randint(0, 9)
        if kind < 3:
            return str(r.choice([r.randint(-100, 100), r.randint(-(10 ** 20), 10 ** 20)]))
        if kind == 3:
            return r.choice(NUMBER_EDGES)
        if kind == 4:
            n = r.randint(1, 1200)
            digits = str(r.randint(1, 9)) + "".join(r.choice("0123456789") for _ in range(n - 1))
            point = r.randint(1, n)
            if point < n and r.random() < 0.5:
                digits = digits[:point] + "." + digits[point:]
            return r.choice(["", "-"]) + digits
        whole = r.choice(["0", str(r.randint(1, 10 ** r.randint(1, 30)))])
        frac = r.choice(["", "." + str(r.randint(0, 10 ** r.randint(1, 30))).zfill(r.randint(1, 5))])
        exp = r.choice(["", "%s%s%s%d" % (r.choice("eE"), r.choice(["", "+", "-"]),
                                          r.choice(["", "0", "00"]), r.randint(0, 400))])
        return r.choice(["", "-"]) + whole + frac + exp

    def key(self, jsonb):
        if self.r.random() < 0.4:
            return self.r.choice(COMMON_KEYS)
        return self.text(10, nul=not jsonb, surrogates=not jsonb)

    def scalar(self, jsonb):
        x = self.r.random()
        if x < 0.15:
            return (self.r.choice(["null", "true", "false"]),)
        if x < 0.5:
            return ("num", self.number())
        return ("str", self.text(nul=not jsonb, surrogates=not jsonb))

    def ast(self, jsonb, max_leaves=12):
        r = self.r
        budget = [r.randint(1, max_leaves)]

        def node(depth):
            if budget[0] <= 0 or depth > 5 or r.random() < 0.3:
                budget[0] -= 1
                return self.scalar(jsonb)
            n = r.choice([0, 1, 2, r.randint(0, 5)])
            if r.random() < 0.5:
                return ("arr", tuple(node(depth + 1) for _ in range(n)))
            return ("obj", tuple((self.key(jsonb), node(depth + 1)) for _ in range(n)))

        return node(0)

    def obj(self, jsonb, max_leaves=12):
        n = self.r.choice([0, 1, 2, self.r.randint(0, 5)])
        return ("obj", tuple((self.key(jsonb), self.ast(jsonb, max_leaves))
                             for _ in range(n)))

    def deep(self, jsonb, depth):
        """A value nested exactly depth containers deep."""
        r = self.r
        node = self.scalar(jsonb)
        for _ in range(depth):
            x = r.random()
            if x < 0.4:
                node = ("arr", (node,))
            elif x < 0.6:
                node = ("arr", (("num", "1"), node, ("obj", ())))
            else:
                key = self.key(jsonb)
                node = ("obj", ((key, node),) if r.random() < 0.8
                        else ((key, ("null",)), (key, node)))
        return node


SEEDS = st.integers(0, 2 ** 64 - 1)
DEEP_DEPTHS = (100, 998, 999, 1000, 1001, 1002, 1500)


@functools.lru_cache(maxsize=None)
def texts(max_size=30, **kw):
    return SEEDS.map(lambda seed: Gen(seed).text(max_size, **kw))


@functools.lru_cache(maxsize=None)
def json_numbers():
    return SEEDS.map(lambda seed: Gen(seed).number())


@functools.lru_cache(maxsize=None)
def json_asts(jsonb, max_leaves=12):
    return SEEDS.map(lambda seed: Gen(seed).ast(jsonb, max_leaves))


@functools.lru_cache(maxsize=None)
def json_objects(jsonb):
    return SEEDS.map(lambda seed: Gen(seed).obj(jsonb))


@functools.lru_cache(maxsize=None)
def json_non_objects(jsonb):
    return SEEDS.map(lambda seed: (lambda g: g.scalar(jsonb) if g.r.random() < 0.5
                                   else ("arr", tuple(g.ast(jsonb, 4) for _ in range(g.r.randint(0, 3)))))(Gen(seed)))


@functools.lru_cache(maxsize=None)
def deep_asts(jsonb):
    return st.builds(lambda depth, seed: Gen(seed).deep(jsonb, depth),
                     st.sampled_from(DEEP_DEPTHS), SEEDS)


SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _u(code, rnd):
    return ("\\u%04x" if rnd.random() < 0.5 else "\\u%04X") % code


def render_string(s, rnd, esc):
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"' if rnd.random() < 0.7 else _u(o, rnd))
        elif c == "\\":
            out.append("\\\\" if rnd.random() < 0.7 else _u(o, rnd))
        elif o < 0x20:
            out.append(SHORT_ESCAPES[c] if c in SHORT_ESCAPES and rnd.random() < 0.7
                       else _u(o, rnd))
        elif 0xD800 <= o <= 0xDFFF:
            out.append(_u(o, rnd))
        elif c == "/" and rnd.random() < 0.5:
            out.append("\\/")
        elif rnd.random() < esc:
            if o > 0xFFFF:
                o -= 0x10000
                out.append(_u(0xD800 + (o >> 10), rnd) + _u(0xDC00 + (o & 0x3FF), rnd))
            else:
                out.append(_u(o, rnd))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def render(ast, style_seed):
    """JSON text for ast, with whitespace and escapes chosen by style_seed."""
    rnd = random.Random(style_seed)
    ws = rnd.choice([0.0, 0.0, 0.2, 0.8])
    esc = rnd.choice([0.0, 0.1, 0.5])
    out = []

    def space():
        if ws and rnd.random() < ws:
            out.append(rnd.choice([" ", "\t", "\n", "\r", "  \r\n  "]))

    def walk(node):
        space()
        kind = node[0]
        if kind in ("null", "true", "false"):
            out.append(kind)
        elif kind == "num":
            out.append(node[1])
        elif kind == "str":
            out.append(render_string(node[1], rnd, esc))
        elif kind == "arr":
            out.append("[")
            for i, child in enumerate(node[1]):
                if i:
                    out.append(",")
                walk(child)
            space()
            out.append("]")
        else:
            out.append("{")
            for i, (key, child) in enumerate(node[1]):
                if i:
                    out.append(",")
                space()
                out.append(render_string(key, rnd, esc))
                space()
                out.append(":")
                walk(child)
            space()
            out.append("}")
        space()

    walk(ast)
    return "".join(out)


# ---------------------------------------------------------------------------
# SQL values: a literal plus what the checks need to know about it.

def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class Val:
    """One column value.  lit is None for SQL NULL."""

    def __init__(self, lit, ast=None, text=None):
        self.lit = lit
        self.ast = ast
        self.text = text

    def sql(self, sqltype):
        return "NULL::" + sqltype if self.lit is None else self.lit


def json_val(ast, style, sqltype):
    text = render(ast, style)
    return Val(sql_str(text) + "::" + sqltype, ast, text)


@functools.lru_cache(maxsize=None)
@st.composite
def jsonb_values(draw, objects_only=False, deep=False):
    if deep:
        ast = draw(deep_asts(True))
        if objects_only and ast[0] != "obj":
            ast = ("obj", (("deep", ast),))
    elif objects_only:
        ast = draw(json_objects(True))
    else:
        ast = draw(json_asts(True))
    return json_val(ast, draw(SEEDS), "jsonb")


@functools.lru_cache(maxsize=None)
@st.composite
def json_values(draw, deep=False):
    ast = draw(deep_asts(False) if deep else json_asts(False))
    return json_val(ast, draw(SEEDS), "json")


INVALID_JSON_TEXTS = [
    "", " ", "\n", "NaN", "Infinity", "-Infinity", "{'a':1}", "[1,]",
    '{"a":1,}', "01", "+1", ".5", "1.", "1e", "-", '"\\x"', '"a\tb"',
    "\ufeff{}", '{"a"}', "true false", "[1]]", "nul", "\x0b1", '"\\u12"',
    '"unterminated', "{", "}", "[", "\u00a01", "1\u00a0", '"\\', "tru",
    "{}{}", '{"a":1 "b":2}', '["\x01"]', "\\u0041", "'text'", "undefined",
]
ODD_VALID_JSON_TEXTS = [
    " 1 ", '"str"', "null", "true", "false", "\t{}\r\n", "[ ]", "-0",
    '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '{"a":1,"a":2}',
    "1E400", '"\\/"', "[[[[[]]]]]",
]


@functools.lru_cache(maxsize=None)
@st.composite
def text_payloads(draw, sqltype="text", deep=False):
    """Text that is valid JSON, nearly JSON, or anything."""
    kind = draw(st.integers(0, 9))
    if deep:
        text = render(draw(deep_asts(False)), draw(SEEDS))
    elif kind <= 3:
        text = render(draw(json_asts(False)), draw(SEEDS))
    elif kind == 4:
        text = draw(texts(max_size=60))
    elif kind == 5:
        # Valid JSON, broken at one place.
        text = render(draw(json_asts(False)), draw(SEEDS))
        at = draw(st.integers(0, len(text)))
        how = draw(st.integers(0, 2))
        junk = draw(st.sampled_from([",", "}", "]", "{", "[", '"', "x", "\\", "\x01", " 1"]))
        if how == 0:
            text = text[:at]
        elif how == 1:
            text = text[:at] + junk + text[at:]
        else:
            text = text[:at] + junk + text[at + 1:]
    elif kind == 6:
        text = draw(st.sampled_from(INVALID_JSON_TEXTS))
    elif kind == 7:
        text = draw(st.sampled_from(ODD_VALID_JSON_TEXTS))
    else:
        text = render(draw(json_asts(False, max_leaves=3)), draw(SEEDS))
    return Val(sql_str(text) + "::" + sqltype, None, text)


@functools.lru_cache(maxsize=None)
@st.composite
def headers_jsonb(draw, objects_only, deep=False):
    if not objects_only and draw(st.integers(0, 3)) == 0:
        # Not an object: an array, a scalar, JSON null.
        return json_val(draw(json_non_objects(True)), draw(SEEDS), "jsonb")
    return draw(jsonb_values(objects_only=True, deep=deep))


@functools.lru_cache(maxsize=None)
@st.composite
def headers_json(draw, deep=False):
    if draw(st.integers(0, 3)) == 0:
        ast = draw(json_non_objects(False))
    elif deep:
        ast = ("obj", (("deep", draw(deep_asts(False))),))
    else:
        ast = draw(json_objects(False))
    return json_val(ast, draw(SEEDS), "json")


TIMESTAMPTZ_EXTREMES = [
    "4714-11-24 00:00:00+00 BC", "0044-03-15 12:00:00.5+00 BC",
    "0001-01-01 00:00:00+00 BC", "0001-01-01 00:30:00+01",
    "9999-12-31 23:59:59.999999-01", "10000-01-01 00:00:00+00",
    "294276-12-31 23:59:59.999999+00", "0001-01-01 00:00:00+00",
    "1970-01-01 00:00:00+00", "2000-02-29 23:59:60+00",
]
TIMESTAMP_EXTREMES = [
    "4714-11-24 00:00:00 BC", "0001-01-01 00:00:00 BC",
    "294276-12-31 23:59:59.999999", "10000-01-01 00:00:00",
    "9999-12-31 23:59:59.999999", "0001-01-01 00:00:00",
]
OFFSETS = ["+00", "+00:00", "+05:30", "-12", "+14", "-03:30", "+01:02:03"]


@functools.lru_cache(maxsize=None)
@st.composite
def timestamps(draw, sqltype):
    kind = draw(st.integers(0, 19))
    if kind == 0:
        text = draw(st.sampled_from(["infinity", "-infinity"]))
    elif kind == 1:
        text = draw(st.sampled_from(TIMESTAMPTZ_EXTREMES if sqltype == "timestamptz"
                                    else TIMESTAMP_EXTREMES))
    else:
        us = draw(st.one_of(st.just(0), st.integers(0, 999999),
                            st.sampled_from([500000, 120000, 1, 999999])))
        text = "%04d-%02d-%02d %02d:%02d:%02d%s" % (
            draw(st.integers(1, 9999)), draw(st.integers(1, 12)),
            draw(st.integers(1, 28)), draw(st.integers(0, 23)),
            draw(st.integers(0, 59)), draw(st.integers(0, 59)),
            "" if us == 0 else ".%06d" % us)
        if sqltype == "timestamptz":
            text += draw(st.sampled_from(OFFSETS))
    return Val(sql_str(text) + "::" + sqltype)


@functools.lru_cache(maxsize=None)
@st.composite
def uuids(draw):
    u = draw(st.uuids())
    form = draw(st.sampled_from([str(u), str(u).upper(), "{%s}" % u, u.hex]))
    return Val(sql_str(form) + "::uuid")


@functools.lru_cache(maxsize=None)
def scalars_of(sqltype):
    """Values of a column that becomes a JSON string (id, aggregate fields)."""
    if sqltype == "uuid":
        return uuids()
    ints = {"bigint": 63, "int": 31, "smallint": 15}
    if sqltype in ints:
        bits = ints[sqltype]
        return st.one_of(st.integers(-(2 ** bits), 2 ** bits - 1),
                         st.sampled_from([0, -1, -(2 ** bits), 2 ** bits - 1])).map(
            lambda n: Val(sql_str(str(n)) + "::" + sqltype))
    if sqltype == "numeric":
        return st.one_of(
            st.integers(-(10 ** 30), 10 ** 30).map(str),
            st.tuples(st.integers(-(10 ** 20), 10 ** 20), st.integers(0, 10 ** 6),
                      st.integers(-30, 30)).map(lambda t: "%d.%de%d" % t),
            st.sampled_from(["NaN", "Infinity", "-Infinity", "1.50"])).map(
            lambda t: Val(sql_str(t) + "::numeric"))
    if sqltype == "inet":
        return st.ip_addresses().map(lambda a: Val(sql_str(str(a)) + "::inet"))
    if sqltype == "bytea":
        return st.binary(max_size=16).map(lambda b: Val(sql_str("\\x" + b.hex()) + "::bytea"))
    if sqltype == "boolean":
        return st.sampled_from(["true", "false", "t", "no"]).map(
            lambda b: Val(sql_str(b) + "::boolean"))
    if sqltype == "char(6)":
        return texts(6).map(lambda s: Val(sql_str(s) + "::char(6)"))
    return texts().map(lambda s: Val(sql_str(s) + "::" + sqltype))


# ---------------------------------------------------------------------------
# The outbox tables.

class Col:
    def __init__(self, name, sqltype, field=None, nullable=True, objects_only=False):
        self.name = name
        self.sqltype = sqltype
        self.field = field          # the event field it is declared for
        self.nullable = nullable
        self.objects_only = objects_only

    def ident(self):
        return '"' + self.name.replace('"', '""') + '"'


class Table:
    def __init__(self, name, cols):
        self.name = name
        self.cols = cols

    def col(self, field):
        return next((c for c in self.cols if c.field == field), None)


FIELDS = ["id", "aggregate_type", "aggregate_id", "event_type", "payload",
          "headers", "created_at"]

TABLES = (
    Table("outbox.events", [
        Col("id", "uuid", "id", False), Col("aggregate_type", "text", "aggregate_type", False),
        Col("aggregate_id", "text", "aggregate_id", False),
        Col("event_type", "text", "event_type", False), Col("payload", "jsonb", "payload"),
        Col("headers", "jsonb", "headers", objects_only=True),
        Col("created_at", "timestamptz", "created_at", False)]),
    Table("prop.a", [
        Col("id", "bigint", "id"), Col("aggregate_type", "varchar", "aggregate_type"),
        Col("aggregate_id", "int", "aggregate_id"), Col("event_type", "text", "event_type"),
        Col("payload", "json", "payload"), Col("headers", "json", "headers"),
        Col("created_at", "timestamp", "created_at")]),
    Table("prop.b", [
        Col("id", "text", "id"), Col("aggregatetype", "text", "aggregate_type"),
        Col("aggregateid", "bigint", "aggregate_id"), Col("type", "varchar", "event_type"),
        Col("note", "text"), Col("payload", "text", "payload")]),
    Table("prop.c", [
        Col("id", "int", "id"), Col("aggregate_type", "numeric", "aggregate_type"),
        Col("aggregate_id", "uuid", "aggregate_id"), Col("event_type", "text", "event_type"),
        Col("payload", "varchar", "payload"),
        Col("created_at_datetime", "timestamptz", "created_at")]),
    Table("prop.d", [
        Col("Event Id", "numeric", "id"), Col("agg type", "bytea", "aggregate_type"),
        Col("agg_id", "inet", "aggregate_id"), Col("ev", "smallint", "event_type"),
        Col("body", "jsonb", "payload"), Col("hdr", "jsonb", "headers"),
        Col("created", "timestamptz")]),
    Table("prop.e", [
        Col("id", "inet", "id"), Col("aggregate_type", "char(6)", "aggregate_type"),
        Col("aggregate_id", "boolean", "aggregate_id"),
        Col("event_type", "prop.label", "event_type"), Col("payload", "text", "payload"),
        Col("headers", "json", "headers"), Col("created_at", "timestamp", "created_at")]),
    Table("prop.p", [
        Col("id", "uuid", "id"), Col("aggregate_type", "text", "aggregate_type"),
        Col("aggregate_id", "text", "aggregate_id"), Col("event_type", "text", "event_type"),
        Col("payload", "jsonb", "payload"), Col("headers", "jsonb", "headers"),
        Col("created_at", "timestamptz", "created_at")]),
)
TEXT_PAYLOAD_TABLES = tuple(t for t in TABLES if t.col("payload").sqltype in ("text", "varchar"))

SETUP_SQL = """
CREATE EXTENSION outbox_pg;
CREATE SCHEMA prop;
CREATE DOMAIN prop.label AS text;
CREATE TABLE prop.a (id bigint, aggregate_type varchar, aggregate_id int, event_type text,
    payload json, headers json, created_at timestamp);
SELECT outbox.declare_table('prop.a');
CREATE TABLE prop.b (id text, aggregatetype text, aggregateid bigint, type varchar,
    note text, payload text);
SELECT outbox.declare_table('prop.b', 'debezium');
CREATE TABLE prop.c (id int, aggregate_type numeric, junk int, aggregate_id uuid,
    event_type text, payload varchar, created_at_datetime timestamptz);
ALTER TABLE prop.c DROP COLUMN junk;
SELECT outbox.declare_table('prop.c', 'classic');
CREATE TABLE prop.d ("Event Id" numeric, "agg type" bytea, agg_id inet, ev smallint,
    body jsonb, hdr jsonb, created timestamptz);
SELECT outbox.declare_table('prop.d', id_column => 'Event Id',
    aggregate_type_column => 'agg type', aggregate_id_column => 'agg_id',
    event_type_column => 'ev', payload_column => 'body', headers_column => 'hdr',
    created_at_column => '');
CREATE TABLE prop.e (id inet, aggregate_type char(6), aggregate_id boolean,
    event_type prop.label, payload text, headers json, created_at timestamp);
SELECT outbox.declare_table('prop.e');
CREATE TABLE prop.p (id uuid, aggregate_type text, aggregate_id text, event_type text,
    payload jsonb, headers jsonb, created_at timestamptz) PARTITION BY HASH (aggregate_id);
CREATE TABLE prop.p0 PARTITION OF prop.p FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE prop.p1 PARTITION OF prop.p FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SELECT outbox.declare_table('prop.p');
CREATE TABLE prop.plain (LIKE prop.p);
"""

# ---------------------------------------------------------------------------
# Cases.  Each knows its SQL (its repr, so a falsifying example reads as SQL
# to paste into psql) and, from what the SQL returned, the events expected.

GEN_LSN = object()    # "<commit_lsn>:<seq>"
GEN_UUID = object()   # a random UUID


class Expected:
    def __init__(self, case, what, **fields):
        self.case = case
        self.what = what
        self.id = fields.get("id")
        self.aggregate_type = fields.get("aggregate_type")
        self.aggregate_id = fields.get("aggregate_id")
        self.event_type = fields.get("event_type")
        self.payload = fields.get("payload", "null")        # exact JSON text
        self.payload_invalid = fields.get("payload_invalid", False)
        self.payload_check = fields.get("payload_check")    # (ast, jsonb) or None
        self.headers = fields.get("headers", "null")
        self.headers_invalid = fields.get("headers_invalid", False)
        self.headers_check = fields.get("headers_check")
        self.created_at = fields.get("created_at", "null")  # exact text
        self.rejected = fields.get("rejected")
        self.size = fields.get("size")


_ISO = re.compile(r"^(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)( BC)?$")


def expected_created_at(text, tz):
    """docs/format.md: timestamptz as RFC 3339 in UTC ("...Z"), timestamp as
    written without zone; years outside 0000-9999 as ISO 8601 expanded years
    with a sign, counted as astronomers do (44 BC is -0043); text is
    PostgreSQL's ISO text of the UTC value."""
    if text is None:
        return "null"
    if text in ("infinity", "-infinity"):
        return json_str(text)
    m = _ISO.match(text)
    if m is None:
        raise AssertionError("unexpected timestamp text from PostgreSQL: " + text)
    year = int(m.group(1))
    if m.group(5):
        year = 1 - year
    if year < 0:
        year_text = "-%04d" % -year
    elif year > 9999:
        year_text = "+%04d" % year
    else:
        year_text = "%04d" % year
    return json_str("%s-%s-%sT%s%s" % (year_text, m.group(2), m.group(3), m.group(4),
                                       "Z" if tz else ""))


def expected_json(val, sqltype, pg_text, headers=False):
    """(text, invalid, check) for a payload or headers value."""
    if val.lit is None:
        return "null", False, None
    if headers:
        is_object = is_object_ast(val.ast)
        if not is_object:
            return "null", True, None
    if sqltype == "jsonb":
        return compact(pg_text), False, (val.ast, True)
    if sqltype == "json":
        if pg_text != val.text:
            raise AssertionError("json column did not keep the text as written")
        return compact(val.text), False, (val.ast, False)
    if text_is_json(val.text):
        return compact(val.text), False, None
    return json_str(val.text), True, None


class RowCase:
    def __init__(self, table, values, replay, subxact):
        self.table = table
        self.values = values    # column name -> Val
        self.replay = replay
        self.subxact = subxact

    def returning(self):
        exprs = []
        for field in FIELDS:
            col = self.table.col(field)
            if col is None:
                continue
            if field == "created_at" and col.sqltype == "timestamptz":
                exprs.append("(%s AT TIME ZONE 'UTC')::text" % col.ident())
            elif field in ("payload", "headers"):
                exprs.append("%s::text" % col.ident())
            else:
                # The type's output function, as the plugin uses for "other"
                # types (concat(), unlike ::text, keeps char(n)'s padding).
                exprs.append("CASE WHEN %s IS NOT NULL THEN concat(%s) END"
                             % (col.ident(), col.ident()))
        return ", ".join(exprs)

    def insert_sql(self, returning=True):
        cols = ", ".join(c.ident() for c in self.table.cols)
        vals = ", ".join(self.values[c.name].sql(c.sqltype) for c in self.table.cols)
        sql = "INSERT INTO %s (%s) VALUES (%s)" % (self.table.name, cols, vals)
        return sql + (" RETURNING " + self.returning() if returning else "")

    def statements(self, returning=True):
        stmts = []
        if self.replay:
            stmts.append("DELETE FROM %s" % self.table.name)
        elif self.table.name == "outbox.events":
            # Its primary key: Hypothesis repeats simple ids.
            stmts.append("DELETE FROM outbox.events WHERE id = %s" % self.values["id"].lit)
        if self.subxact:
            stmts.append("SAVEPOINT s")
        stmts.append(self.insert_sql(returning))
        if self.subxact:
            stmts.append("RELEASE SAVEPOINT s")
        if self.replay:
            stmts.append("SELECT outbox.replay(%s)" % sql_str(self.table.name))
        return stmts

    def __repr__(self):
        return ";\n".join(self.statements()) + ";"

    def run(self, cur):
        row = None
        for sql in self.statements():
            cur.execute(sql)
            if sql.startswith("INSERT"):
                row = cur.fetchone()
            elif sql.startswith("SELECT outbox.replay"):
                n = cur.fetchone()[0]
                if n != 1:
                    raise AssertionError("outbox.replay() replayed %d rows, not 1" % n)
        return row

    def expected(self, row):
        got = dict(zip([f for f in FIELDS if self.table.col(f)], row))
        fields = {}
        for field in ("id", "aggregate_type", "aggregate_id", "event_type"):
            fields[field] = got.get(field)
        col = self.table.col("payload")
        fields["payload"], fields["payload_invalid"], fields["payload_check"] = \
            expected_json(self.values[col.name], col.sqltype, got["payload"])
        col = self.table.col("headers")
        if col is not None:
            fields["headers"], fields["headers_invalid"], fields["headers_check"] = \
                expected_json(self.values[col.name], col.sqltype, got["headers"], headers=True)
        col = self.table.col("created_at")
        if col is not None:
            fields["created_at"] = expected_created_at(got["created_at"],
                                                       col.sqltype == "timestamptz")
        events = [Expected(self, "insert", **fields)]
        if fields["id"] is None:
            events[0].id = GEN_LSN
        if self.replay:
            fields["id"] = GEN_UUID if got["id"] is None else got["id"]
            events.append(Expected(self, "replay", **fields))
        return events


@functools.lru_cache(maxsize=None)
@st.composite
def row_cases(draw, tables=TABLES, deep=False, replay=None):
    table = draw(st.sampled_from(tables))
    values = {}
    for col in table.cols:
        if col.nullable and draw(st.integers(0, 7)) == 0:
            values[col.name] = Val(None)
        elif col.field == "payload":
            values[col.name] = draw(
                jsonb_values(deep=deep) if col.sqltype == "jsonb" else
                json_values(deep=deep) if col.sqltype == "json" else
                text_payloads(col.sqltype, deep=deep))
        elif col.field == "headers":
            values[col.name] = draw(headers_jsonb(col.objects_only) if col.sqltype == "jsonb"
                                    else headers_json())
        elif col.field == "created_at" or col.sqltype.startswith("timestamp"):
            values[col.name] = draw(timestamps(col.sqltype))
        else:
            values[col.name] = draw(scalars_of(col.sqltype))
    if replay is None:
        replay = draw(st.integers(0, 3)) == 0
    return RowCase(table, values, replay, draw(st.integers(0, 2)) == 0)


class EmitCase:
    def __init__(self, args, payload, headers, four_args):
        self.args = args            # aggregate_type, aggregate_id, event_type
        self.payload = payload
        self.headers = headers
        self.four_args = four_args

    def sql(self):
        args = [sql_str(a) for a in self.args] + [self.payload.sql("jsonb")]
        if not self.four_args:
            args.append(self.headers.sql("jsonb"))
        return ("SELECT outbox.emit(%s)::text, %s::text, %s::text, "
                "(now() AT TIME ZONE 'UTC')::text"
                % (", ".join(args), self.payload.sql("jsonb"), self.headers.sql("jsonb")))

    def __repr__(self):
        return self.sql() + ";"

    def refused(self):
        """outbox.emit() refuses headers that are not an object (SQLSTATE
        22023) and writes nothing."""
        return self.headers.lit is not None and not is_object_ast(self.headers.ast)

    def run(self, cur):
        if not self.refused():
            cur.execute(self.sql())
            return cur.fetchone()
        cur.execute("SAVEPOINT e")
        try:
            cur.execute(self.sql())
        except psycopg2.errors.InvalidParameterValue:
            cur.execute("ROLLBACK TO SAVEPOINT e")
            return None
        fail("EmitHeaders", "outbox.emit() accepted headers that are not an object: " + self.sql())

    def expected(self, row):
        if self.refused():
            return []
        fields = dict(zip(("aggregate_type", "aggregate_id", "event_type"), self.args))
        fields["id"] = row[0]
        fields["payload"], fields["payload_invalid"], fields["payload_check"] = \
            expected_json(self.payload, "jsonb", row[1])
        fields["headers"], fields["headers_invalid"], fields["headers_check"] = \
            expected_json(self.headers, "jsonb", row[2], headers=True)
        fields["created_at"] = expected_created_at(row[3], True)
        return [Expected(self, "emit", **fields)]


@functools.lru_cache(maxsize=None)
@st.composite
def emit_cases(draw, deep=False, headers_objects=False):
    args = [draw(texts()) for _ in range(3)]
    payload = Val(None) if draw(st.integers(0, 9)) == 0 else draw(jsonb_values(deep=deep))
    if draw(st.integers(0, 4)) == 0:
        headers = Val(None)
    else:
        headers = draw(headers_jsonb(objects_only=headers_objects))
    four_args = headers.lit is None and draw(st.booleans())
    return EmitCase(args, payload, headers, four_args)


class ForgedCase:
    """A message with our prefix that outbox.emit() did not write."""

    def __init__(self, content):
        self.content = content      # str (text message) or bytes

    def sql(self):
        if isinstance(self.content, bytes):
            lit = sql_str("\\x" + self.content.hex()) + "::bytea"
        else:
            lit = sql_str(self.content)
        return "SELECT pg_logical_emit_message(true, 'outbox_pg', %s)::text" % lit

    def __repr__(self):
        return self.sql() + ";"

    def run(self, cur):
        cur.execute(self.sql())
        return None

    def expected(self, row):
        raw = self.content if isinstance(self.content, bytes) else self.content.encode()
        try:
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL")
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "\\x" + raw.hex()
        return [Expected(self, "forged", id=GEN_LSN, payload=json_str(text),
                         rejected="unauthenticated", size=len(raw))]


@functools.lru_cache(maxsize=None)
@st.composite
def forged_cases(draw):
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return ForgedCase(draw(texts(max_size=60)))
    if kind == 1:
        return ForgedCase(draw(st.binary(max_size=40)))
    if kind == 2:
        return ForgedCase(draw(st.sampled_from(["", "{}", "null", "\x01"])))
    # What outbox.emit() would have written: the event's fields, unsigned.
    fields = [draw(texts(max_size=10)) for _ in range(4)]
    payload = render(draw(json_asts(True)), 0)
    body = ('"id":%s,"aggregate_type":%s,"aggregate_id":%s,"event_type":%s,'
            '"payload":%s,"headers":{"traceparent":"x"},'
            '"created_at":"2026-11-29T00:00:00Z"'
            % (json_str(draw(st.uuids()).__str__()), json_str(fields[0]),
               json_str(fields[1]), json_str(fields[2]), compact(payload)))
    if kind == 4:
        body = "x" * 32 + body  # room for a signature, but not one
    return ForgedCase(body)


class QuietCase:
    """Statements that must emit nothing."""

    def __init__(self, what, stmts):
        self.what = what
        self.stmts = stmts

    def __repr__(self):
        return ";\n".join(self.stmts) + ";"

    def run(self, cur):
        for sql in self.stmts:
            cur.execute(sql)
        return None

    def expected(self, row):
        return []


@functools.lru_cache(maxsize=None)
@st.composite
def quiet_cases(draw):
    kind = draw(st.integers(0, 7))
    table = draw(st.sampled_from(TABLES))
    pay = table.col("payload").ident()
    if kind == 0:
        row = draw(row_cases(tables=(TABLES[-1],), replay=False))
        stmts = [row.insert_sql(returning=False).replace("prop.p ", "prop.plain ", 1)]
    elif kind == 1:
        stmts = ["UPDATE %s SET %s = %s" % (table.name, pay, pay)]
    elif kind == 2:
        stmts = ["DELETE FROM %s" % table.name]
    elif kind == 3:
        row = draw(row_cases(replay=False))
        emit = draw(emit_cases(headers_objects=True))
        stmts = ["SAVEPOINT q"] + row.statements(returning=False) + [emit.sql(),
                 "SELECT outbox.replay(%s)" % sql_str(table.name),
                 "ROLLBACK TO SAVEPOINT q", "RELEASE SAVEPOINT q"]
    elif kind == 4:
        # Not transactional: outbox.emit() never writes those.
        stmts = ["SELECT pg_logical_emit_message(false, 'outbox_pg', %s)::text"
                 % sql_str(draw(texts()))]
    elif kind == 5:
        stmts = ["SELECT pg_logical_emit_message(true, %s, %s)::text"
                 % (sql_str(draw(st.sampled_from(["outbox", "outbox_pgx", "Outbox_pg", ""]))),
                    sql_str(draw(texts())))]
    elif kind == 6:
        stmts = ["TRUNCATE %s" % table.name]
    else:
        stmts = ["INSERT INTO outbox.tables SELECT * FROM outbox.tables WHERE false",
                 "UPDATE prop.plain SET payload = '{}' WHERE false"]
    return QuietCase("quiet", stmts)


# ---------------------------------------------------------------------------
# Checks.  Each aspect raises its own exception class, so Hypothesis reports
# each distinct failure with its own minimal example.

class PropertyFailure(AssertionError):
    pass


_failure_classes = {}


def fail(aspect, message):
    cls = _failure_classes.get(aspect)
    if cls is None:
        cls = type(aspect, (PropertyFailure,), {})
        _failure_classes[aspect] = cls
    raise cls(message)


def clip(s, n=3000):
    s = str(s)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


KEY_ORDER = ["v", "id", "id_generated", "aggregate_type", "aggregate_id",
             "event_type", "payload", "payload_invalid", "headers",
             "headers_invalid", "created_at", "rejected", "size", "commit_lsn",
             "xid", "commit_time", "seq", "last", "end_lsn"]
REQUIRED = {"v", "id", "aggregate_type", "aggregate_id", "event_type", "payload",
            "headers", "created_at", "seq"}
META = {"commit_lsn", "xid", "commit_time"}
LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_int(v):
    return isinstance(v, Decimal) and v == v.to_integral_value() and v >= 0


def check_shape(msg, with_meta):
    """docs/format.md's shape, for any message; returns the parsed pairs."""
    try:
        obj = parse_json(msg)
    except (ValueError, RecursionError) as e:
        fail("NotJson", "message does not parse as JSON (%s): %s" % (e, clip(msg)))
    if not isinstance(obj, Obj):
        fail("Shape", "message is not a JSON object: " + clip(msg))
    if compact(msg) != msg:
        fail("Shape", "message has whitespace outside strings: " + clip(msg))
    keys = [k for k, _ in obj]
    d = dict(obj)
    required = REQUIRED | (META if with_meta else set())
    if (len(set(keys)) != len(keys) or not set(keys) <= set(KEY_ORDER)
            or keys != sorted(keys, key=KEY_ORDER.index) or not required <= set(keys)
            or (not with_meta and META & set(keys))):
        fail("Shape", "keys %s, documented order %s: %s" % (keys, KEY_ORDER, clip(msg)))
    problems = []
    if not (is_int(d["v"]) and d["v"] == 1):
        problems.append("v")
    if not isinstance(d["id"], str):
        problems.append("id (never null)")
    for k in ("aggregate_type", "aggregate_id", "event_type", "created_at"):
        if d[k] is not None and not isinstance(d[k], str):
            problems.append(k)
    for k in ("id_generated", "payload_invalid", "headers_invalid", "last"):
        if k in d and d[k] is not True:
            problems.append(k)
    if "payload_invalid" in d and not isinstance(d["payload"], str):
        problems.append("payload_invalid without a string payload")
    if d["headers"] is not None and not isinstance(d["headers"], Obj):
        problems.append("headers neither an object nor null")
    if "headers_invalid" in d and d["headers"] is not None:
        problems.append("headers_invalid with headers")
    if ("rejected" in d) != ("size" in d) or (
            "rejected" in d and (d["rejected"] not in ("unauthenticated", "too_large")
                                 or not is_int(d["size"]))):
        problems.append("rejected/size")
    if not is_int(d["seq"]):
        problems.append("seq")
    if with_meta:
        if not LSN.match(str(d["commit_lsn"])) or not is_int(d["xid"]):
            problems.append("commit_lsn/xid")
        if not RFC3339_UTC.match(str(d["commit_time"])):
            problems.append("commit_time")
        if ("end_lsn" in d) != ("last" in d) or ("end_lsn" in d and not LSN.match(str(d["end_lsn"]))):
            problems.append("end_lsn only and always with last")
    elif "end_lsn" in d:
        problems.append("end_lsn without include-lsn")
    if problems:
        fail("Shape", "bad %s: %s" % (", ".join(problems), clip(msg)))
    return d


def lsn_value(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def parse_utc(text):
    return datetime.datetime.strptime(text.rstrip("Z").ljust(26, "0") if "." in text
                                      else text.rstrip("Z") + ".000000",
                                      "%Y-%m-%dT%H:%M:%S.%f")


def check_transaction(msgs, parsed, txn):
    """seq, last, end_lsn and the transaction's metadata, across its events."""
    first = parsed[0]
    for i, d in enumerate(parsed):
        if d["seq"] != i:
            fail("Transaction", "event %d has seq %s: %s" % (i, d["seq"], clip(msgs[i])))
        if ("last" in d) != (i == len(parsed) - 1):
            fail("Transaction", "last on event %d of %d: %s" % (i, len(parsed), clip(msgs[i])))
        for k in META:
            if d[k] != first[k]:
                fail("Transaction", "%s differs within the transaction: %s" % (k, clip(msgs[i])))
    if int(first["xid"]) != txn["xid"] % 2 ** 32:
        fail("Transaction", "xid %s, transaction was %d" % (first["xid"], txn["xid"]))
    commit, end = lsn_value(first["commit_lsn"]), lsn_value(parsed[-1]["end_lsn"])
    if not txn["start_lsn"] < commit < end <= txn["end_lsn"]:
        fail("Transaction", "commit_lsn %s / end_lsn %s outside the transaction's WAL (%x..%x)"
             % (first["commit_lsn"], parsed[-1]["end_lsn"], txn["start_lsn"], txn["end_lsn"]))
    commit_time = parse_utc(first["commit_time"])
    if not txn["start_time"] <= commit_time <= txn["end_time"]:
        fail("Transaction", "commit_time %s outside %s..%s"
             % (first["commit_time"], txn["start_time"], txn["end_time"]))


def expected_message(exp, d, msg_id):
    """The whole message, byte for byte, from the expectation and the
    transaction's metadata as the message reports it."""
    parts = ['{"v":1,"id":', json_str(msg_id)]
    if exp.id in (GEN_LSN, GEN_UUID):
        parts.append(',"id_generated":true')
    for k in ("aggregate_type", "aggregate_id", "event_type"):
        parts.append(',"%s":%s' % (k, json_str(getattr(exp, k))))
    parts.append(',"payload":' + exp.payload)
    if exp.payload_invalid:
        parts.append(',"payload_invalid":true')
    parts.append(',"headers":' + exp.headers)
    if exp.headers_invalid:
        parts.append(',"headers_invalid":true')
    parts.append(',"created_at":' + exp.created_at)
    if exp.rejected:
        parts.append(',"rejected":%s,"size":%d' % (json_str(exp.rejected), exp.size))
    parts.append(',"commit_lsn":"%s","xid":%s,"commit_time":"%s","seq":%s'
                 % (d["commit_lsn"], d["xid"], d["commit_time"], d["seq"]))
    if "last" in d:
        parts.append(',"last":true,"end_lsn":"%s"' % d["end_lsn"])
    parts.append("}")
    return "".join(parts)


def matches(exp, msg, d):
    """Whether msg is exp's event, whatever its position."""
    if exp.id is GEN_LSN:
        msg_id = "%s:%s" % (d["commit_lsn"], d["seq"])
    elif exp.id is GEN_UUID:
        if not UUID_RE.match(d["id"]):
            return False
        msg_id = d["id"]
    else:
        msg_id = exp.id
    return msg == expected_message(exp, d, msg_id)


def check_event(exp, msg, d):
    where = "\n-- case (%s):\n%s\n-- message:\n%s" % (exp.what, clip(repr(exp.case), 20000),
                                                      clip(msg))
    if exp.id is GEN_LSN:
        want = "%s:%s" % (d["commit_lsn"], d["seq"])
        if d["id"] != want or d.get("id_generated") is not True:
            fail("GeneratedId", "want id %s with id_generated%s" % (want, where))
        msg_id = want
    elif exp.id is GEN_UUID:
        if not (isinstance(d["id"], str) and UUID_RE.match(d["id"])) or d.get("id_generated") is not True:
            fail("GeneratedId", "want a random UUID id with id_generated" + where)
        msg_id = d["id"]
    else:
        if d["id"] != exp.id or "id_generated" in d:
            fail("Id", "want id %s%s" % (json_str(exp.id), where))
        msg_id = exp.id
    if exp.rejected != d.get("rejected"):
        fail("Rejected", "want rejected %s%s" % (exp.rejected, where))
    for k in ("aggregate_type", "aggregate_id", "event_type"):
        if d[k] != getattr(exp, k):
            fail("StringField", "want %s %s%s" % (k, json_str(getattr(exp, k)), where))
    if exp.payload_invalid != ("payload_invalid" in d):
        fail("PayloadInvalid", "want payload_invalid %s%s" % (exp.payload_invalid, where))
    if exp.payload_check is not None:
        ast, jsonb = exp.payload_check
        if not same_value(ast, d["payload"], jsonb):
            fail("PayloadValue", "payload is not the source value" + where)
    if exp.headers_invalid != ("headers_invalid" in d):
        fail("HeadersInvalid", "want headers_invalid %s%s" % (exp.headers_invalid, where))
    if exp.headers_check is not None:
        ast, jsonb = exp.headers_check
        if not same_value(ast, d["headers"], jsonb):
            fail("HeadersValue", "headers are not the source value" + where)
    if json_str(d["created_at"]) != exp.created_at:
        fail("CreatedAt", "want created_at %s%s" % (exp.created_at, where))
    want = expected_message(exp, d, msg_id)
    if msg != want:
        at = next((i for i, (a, b) in enumerate(zip(msg, want)) if a != b), min(len(msg), len(want)))
        fail("Bytes", "message differs from the canonical form at byte %d: want ...%s...%s"
             % (at, clip(want[max(0, at - 40):at + 80], 400), where))


def check_small(expected, msgs, parsed, small_msgs):
    """With max-event-size 1024: what fits is written as with the default,
    an event whose own fields exceed it is rejected "too_large" in place."""
    if len(small_msgs) != len(msgs):
        fail("TooLarge", "max-event-size %d: %d messages, not %d" % (SMALL, len(small_msgs), len(msgs)))
    for exp, msg, d, small in zip(expected, msgs, parsed, small_msgs):
        where = "\n-- case (%s):\n%s\n-- message:\n%s\n-- with max-event-size %d:\n%s" % (
            exp.what, clip(repr(exp.case), 20000), clip(msg), SMALL, clip(small))
        fields = strip_metadata(msg)[len('{"v":1,'):-1]
        fields = re.sub(r',"seq":\d+(,"last":true)?$', "", fields)
        if small == msg:
            if len(fields.encode()) > SMALL and "rejected" not in d:
                fail("TooLarge", "an event of %d bytes was not rejected%s"
                     % (len(fields.encode()), where))
            continue
        if len(msg.encode()) <= SMALL:
            fail("TooLarge", "a %d-byte message changed%s" % (len(msg.encode()), where))
        s = check_shape(small, True)
        if (s.get("rejected") not in ("too_large", d.get("rejected")) or s["payload"] is not None
                or s["headers"] is not None
                or any(s.get(k) != d.get(k) for k in META | {"seq", "last", "end_lsn"})):
            fail("TooLarge", "not a too_large event in place of the event%s" % where)
        if exp.what == "insert" and any(s[k] != d[k] for k in (
                "id", "aggregate_type", "aggregate_id", "event_type", "created_at")):
            fail("TooLarge", "a table row's id, aggregate and created_at (under 1 kB) "
                 "were not kept%s" % where)


def strip_metadata(msg):
    """A message as the slot with include-xid/-lsn/-timestamp off writes it."""
    msg = re.sub(r',"end_lsn":"[0-9A-F/]+"\}$', "}", msg)
    return re.sub(r',"commit_lsn":"[0-9A-F/]+","xid":\d+,"commit_time":"[^"]*"(,"seq":\d+(,"last":true)?\})$',
                  r"\1", msg)


# ---------------------------------------------------------------------------
# Running a batch.

class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="outbox_property.")
        self.conn = None
        try:
            subprocess.run([PG_SH, "start", self.dir + "/pg"], check=True,
                           stdout=subprocess.DEVNULL)
            env = subprocess.run([PG_SH, "env", self.dir + "/pg"], check=True,
                                 capture_output=True, text=True).stdout
            conf = dict(kv.split("=", 1) for kv in env.split()[1:])
            self.conn = psycopg2.connect(host=conf["PGHOST"], port=conf["PGPORT"],
                                         user="postgres", dbname="postgres")
            self.conn.autocommit = True
            self.cur = self.conn.cursor()
            self.cur.execute("SET DateStyle = 'ISO, YMD'")
            self.cur.execute(SETUP_SQL)
            for slot in SLOTS:
                self.cur.execute("SELECT pg_create_logical_replication_slot(%s, 'outbox_pg')"
                                 % sql_str(slot))
        except BaseException:
            self.stop()
            raise

    def stop(self):
        try:
            if self.conn is not None:
                self.conn.close()
        finally:
            subprocess.run([PG_SH, "stop", self.dir + "/pg"], stdout=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", self.dir])

    def changes(self, slot, options=()):
        # A DateStyle unlike ISO: the plugin's output must not depend on it.
        self.cur.execute("SET DateStyle = 'SQL, DMY'")
        args = "".join(", %s" % sql_str(o) for o in options)
        self.cur.execute("SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL%s)"
                         % (sql_str(slot), args))
        rows = [r[0] for r in self.cur.fetchall()]
        self.cur.execute("SET DateStyle = 'ISO, YMD'")
        return rows


TIMEZONES = ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Kiritimati", "Etc/GMT+12"]
MIN_OPTIONS = ("include-xid", "false", "include-lsn", "false", "include-timestamp", "false")
SMALL = 1024    # the lowest max-event-size
SMALL_OPTIONS = ("max-event-size", str(SMALL))
SLOTS = ("prop", "prop_min", "prop_small")


def reset(cluster):
    """Leaves nothing behind from a batch that failed half-way: no open or
    prepared transaction, no changes left in the slots."""
    cur = cluster.cur
    if cluster.conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        cur.execute("ROLLBACK")
    cur.execute("SELECT gid FROM pg_prepared_xacts WHERE gid = 'prop'")
    if cur.fetchone():
        cur.execute("ROLLBACK PREPARED 'prop'")
    cur.execute("SET DateStyle = 'ISO, YMD'")
    for slot in SLOTS:
        try:
            cur.execute("SELECT count(*) FROM pg_logical_slot_get_changes(%s, NULL, NULL)"
                        % sql_str(slot))
        except psycopg2.Error:
            # Decoding failed (reported already): the slot would fail the
            # same way for every later batch.
            cur.execute("SELECT pg_drop_replication_slot(%s)" % sql_str(slot))
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'outbox_pg')"
                        % sql_str(slot))


def run_batch(cluster, cases, prepared, timezone):
    cur = cluster.cur
    reset(cluster)
    cur.execute("SET TimeZone = " + sql_str(timezone))
    # An aborted transaction writes nothing.
    cur.execute("BEGIN")
    cur.execute("INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) "
                "VALUES ('a', 'b', 'c', '{}')")
    cur.execute("SELECT outbox.emit('a', 'b', 'c', '{}')")
    cur.execute("SELECT pg_logical_emit_message(true, 'outbox_pg', 'x')")
    cur.execute("ROLLBACK")

    cur.execute("BEGIN")
    cur.execute("SELECT txid_current(), (now() AT TIME ZONE 'UTC')::text, "
                "pg_current_wal_lsn()::text")
    xid, start_time, start_lsn = cur.fetchone()
    rows = [case.run(cur) for case in cases]
    if prepared:
        cur.execute("PREPARE TRANSACTION 'prop'")
        cur.execute("COMMIT PREPARED 'prop'")
    else:
        cur.execute("COMMIT")
    cur.execute("SELECT (clock_timestamp() AT TIME ZONE 'UTC')::text, pg_current_wal_lsn()::text")
    end_time, end_lsn = cur.fetchone()
    txn = {"xid": xid, "start_lsn": lsn_value(start_lsn), "end_lsn": lsn_value(end_lsn),
           "start_time": parse_utc(start_time.replace(" ", "T")),
           "end_time": parse_utc(end_time.replace(" ", "T"))}
    msgs = cluster.changes("prop")
    min_msgs = cluster.changes("prop_min", MIN_OPTIONS)
    small_msgs = cluster.changes("prop_small", SMALL_OPTIONS)

    expected = [e for case, row in zip(cases, rows) for e in case.expected(row)]
    if len(msgs) != len(expected):
        fail("Count", "%d messages, %d events expected (%s)\n-- batch:\n%s\n-- messages:\n%s"
             % (len(msgs), len(expected), ", ".join(e.what for e in expected),
                clip("\n".join(repr(c) for c in cases), 20000), clip("\n".join(msgs), 20000)))
    parsed = [check_shape(m, True) for m in msgs]
    if msgs:
        check_transaction(msgs, parsed, txn)
    for i, (exp, msg, d) in enumerate(zip(expected, msgs, parsed)):
        if matches(exp, msg, d):
            continue
        other = next((j for j, e in enumerate(expected) if j != i and matches(e, msg, d)), None)
        if other is not None:
            fail("Order", "message %d is the %s event of case %d (expected at %d), decoded before "
                 "the %s event of case %d\n-- case %d:\n%s\n-- case %d:\n%s\n-- message:\n%s"
                 % (i, expected[other].what, cases.index(expected[other].case), other,
                    exp.what, cases.index(exp.case),
                    cases.index(exp.case), clip(repr(exp.case)),
                    cases.index(expected[other].case), clip(repr(expected[other].case)),
                    clip(msg)))
    for exp, msg, d in zip(expected, msgs, parsed):
        check_event(exp, msg, d)
    check_small(expected, msgs, parsed, small_msgs)
    for m in min_msgs:
        check_shape(m, False)
    want_min = [strip_metadata(m) for m in msgs]
    if min_msgs != want_min:
        bad = next(i for i in range(max(len(min_msgs), len(want_min)))
                   if i >= len(min_msgs) or i >= len(want_min) or min_msgs[i] != want_min[i])
        fail("Options", "with include-xid/-lsn/-timestamp off, message %d is\n%s\nnot\n%s"
             % (bad, clip(min_msgs[bad] if bad < len(min_msgs) else None),
                clip(want_min[bad] if bad < len(want_min) else None)))


# ---------------------------------------------------------------------------
# The properties.

def batches(case_strategy, max_size):
    # Long batches for throughput; shrinking may cut one down to a case.
    min_size = 1 if SHRINK else max(1, max_size // 2)
    return st.tuples(st.lists(case_strategy, min_size=min_size, max_size=max_size),
                     st.integers(0, 3).map(lambda n: n == 0),
                     st.sampled_from(TIMEZONES))


PROPERTIES = [
    ("table rows (every layout and column type, NULLs, replay) round-trip",
     st.one_of(row_cases(), row_cases(), row_cases(), quiet_cases()), 40, 1),
    ("text payloads: JSON embedded, anything else a string with payload_invalid",
     st.one_of(row_cases(tables=TEXT_PAYLOAD_TABLES), quiet_cases()), 40, 1),
    ("outbox.emit() events round-trip",
     st.one_of(emit_cases(), emit_cases(), row_cases(), quiet_cases()), 40, 1),
    ("forged outbox_pg messages are rejected, genuine ones are not",
     st.one_of(forged_cases(), emit_cases(), quiet_cases()), 40, 1),
    ("nesting to 1500 levels (rows, replay, emit)",
     st.one_of(row_cases(deep=True), emit_cases(deep=True)), 3, 3),
]


def main():
    print("# property test: seed %d, %d batches per property (PROPERTY_SEED, PROPERTY_EXAMPLES)"
          % (SEED, EXAMPLES))
    cluster = Cluster()
    # Hypothesis keeps a directory of its own; not in the source tree.
    set_hypothesis_home_dir(os.path.join(cluster.dir, "hypothesis"))
    passed = failed = 0
    total_cases = 0
    started = time.monotonic()
    try:
        for name, strategy, max_size, divisor in PROPERTIES:
            if ONLY not in name:
                continue
            counter = {"batches": 0, "cases": 0}
            failures = {}   # kind of failure -> [batches, the first one's message]

            @seed(SEED)
            @settings(max_examples=max(1, EXAMPLES // divisor), deadline=None, database=None,
                      derandomize=False, print_blob=False, report_multiple_bugs=True,
                      suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else []))
            @given(batches(strategy, max_size))
            def prop(batch):
                cases, prepared, timezone = batch
                counter["batches"] += 1
                counter["cases"] += len(cases)
                try:
                    run_batch(cluster, cases, prepared, timezone)
                except Exception as e:
                    if SHRINK:
                        raise
                    # Every kind of failure is reported, not just the first.
                    kind = type(e).__name__
                    message = str(e)
                    if not isinstance(e, PropertyFailure):
                        message += "\n-- batch (%s):\n%s" % (
                            "prepared" if prepared else "committed",
                            clip("\n".join(repr(c) for c in cases), 20000))
                    failures.setdefault(kind, [0, message])[0] += 1

            t0 = time.monotonic()
            try:
                prop()
            except Exception:
                failures.setdefault("shrunk", [1, traceback.format_exc()])
            for kind, (n, message) in sorted(failures.items()):
                print("# %s in %d batch(es); the first:\n%s\n" % (kind, n, message))
            ok = not failures
            total_cases += counter["cases"]
            print("%s - %s (%d cases in %d batches, %.1f s)"
                  % ("ok" if ok else "not ok", name, counter["cases"], counter["batches"],
                     time.monotonic() - t0), flush=True)
            passed += ok
            failed += not ok
    finally:
        cluster.stop()
    print("# %d cases, seed %d, %.1f s" % (total_cases, SEED, time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
