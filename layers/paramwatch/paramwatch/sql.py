"""SQL text for `paramwatch hunt`: quoted literals, IAM globs as LIKE patterns, and the few places
where Athena (Trino) and DuckDB spell the same thing differently.

Grant fields are attacker-influenced in a delegated setup, so nothing from the allowlist reaches
SQL except through `literal()` and `like()`: a value is always one quoted string, never syntax.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

ESCAPE = "\\"


class SqlError(ValueError):
    """A value that cannot be written as a SQL literal."""


def literal(text: str) -> str:
    """A single-quoted SQL string literal; quotes are doubled, backslashes stay literal.

    Both engines read standard SQL strings, where only `'` needs escaping. Control characters are
    refused: no parameter name or ARN holds one, and some clients mangle them.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise SqlError(f"{text!r} contains a control character")
    return "'" + text.replace("'", "''") + "'"


def like_body(glob: str) -> str:
    """An IAM glob as the body of a LIKE pattern with escape character `\\`."""
    out = []
    for char in glob:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in ("%", "_", ESCAPE):
            out.append(ESCAPE + char)
        else:
            out.append(char)
    return "".join(out)


def like(value: str, glob: str, *, suffix: str = "") -> str:
    """`value LIKE <glob> ESCAPE '\\'`: a case-sensitive match of the whole string in both engines."""
    return f"{value} LIKE {literal(like_body(glob) + suffix)} ESCAPE {literal(ESCAPE)}"


def in_list(value: str, items: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    """`value IN ('a', 'b')` with every item quoted, in a stable order."""
    return f"{value} IN ({', '.join(literal(i) for i in sorted(items))})"


@dataclass(frozen=True)
class Dialect:
    """The shims: each method returns the engine's spelling of one operation."""

    name: str

    def parse_json(self, text: str) -> str:
        raise NotImplementedError

    def json_text(self, doc: str, path: str) -> str:
        """The JSON text of the value at `path` (`'null'` for a JSON null), NULL when absent."""
        raise NotImplementedError

    def json_string(self, doc: str, path: str) -> str:
        """The value at `path` when it is a JSON string, else NULL."""
        raise NotImplementedError

    def json_value(self, doc: str, path: str) -> str:
        raise NotImplementedError

    def json_array(self, doc: str, path: str) -> str:
        """The elements (as JSON) of the array at `path`, NULL when it is not an array."""
        raise NotImplementedError

    def element_string(self, element: str) -> str:
        """A JSON element's string value when it is a JSON string, else NULL."""
        raise NotImplementedError

    def regex(self, value: str, pattern: str) -> str:
        raise NotImplementedError

    def parse_time(self, text: str) -> str:
        raise NotImplementedError

    def time(self, moment: datetime) -> str:
        raise NotImplementedError

    def epoch(self, ts: str) -> str:
        raise NotImplementedError

    def from_epoch(self, seconds: str) -> str:
        raise NotImplementedError

    def iso_weekday(self, local: str) -> str:
        raise NotImplementedError

    def in_network(self, ip: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        raise NotImplementedError

    def preamble(self) -> str:
        """Statements to run before the query (DuckDB's macros); empty for Athena."""
        return ""

    def partition(self, predicate: str, column: str) -> str:
        """A predicate on a partition column, as written first in the WHERE clause."""
        return predicate

    # The same in both: kept here so the builder has one vocabulary.
    def array_of(self, value: str) -> str:
        return f"ARRAY[{value}]"

    def regex_group(self, value: str, pattern: str) -> str:
        return f"regexp_extract({value}, {literal(pattern)}, 1)"

    def filter(self, array: str, var: str, body: str) -> str:
        """The elements of `array` for which `body` (over the lambda variable `var`) holds."""
        return f"filter({array}, {var} -> {body})"

    def element(self, array: str, index: int) -> str:
        """The `index`th element (from 1), NULL past the end: Trino's subscript would fail there."""
        return f"element_at({array}, {index})"


_OFFSET = r"(Z|[+-]\d\d:\d\d)$"


class Trino(Dialect):
    """Athena engine version 3 (Trino)."""

    def parse_json(self, text: str) -> str:
        return f"try(json_parse({text}))"

    def json_text(self, doc: str, path: str) -> str:
        return f"json_format(json_extract({doc}, {literal(path)}))"

    def json_string(self, doc: str, path: str) -> str:
        return f"CASE WHEN {self.json_text(doc, path)} LIKE '\"%' THEN json_extract_scalar({doc}, {literal(path)}) END"

    def json_value(self, doc: str, path: str) -> str:
        return f"json_extract({doc}, {literal(path)})"

    def json_array(self, doc: str, path: str) -> str:
        return f"TRY_CAST(json_extract({doc}, {literal(path)}) AS ARRAY(JSON))"

    def element_string(self, element: str) -> str:
        return f"CASE WHEN json_format({element}) LIKE '\"%' THEN json_extract_scalar({element}, '$') END"

    def regex(self, value: str, pattern: str) -> str:
        return f"regexp_like({value}, {literal(pattern)})"

    def parse_time(self, text: str) -> str:
        return f"CASE WHEN {self.regex(text, _OFFSET)} THEN try(from_iso8601_timestamp({text})) END"

    def time(self, moment: datetime) -> str:
        return f"from_iso8601_timestamp({literal(moment.strftime('%Y-%m-%dT%H:%M:%SZ'))})"

    def epoch(self, ts: str) -> str:
        return f"to_unixtime({ts})"

    def from_epoch(self, seconds: str) -> str:
        return f"from_unixtime({seconds})"

    def iso_weekday(self, local: str) -> str:
        return f"day_of_week({local})"

    def in_network(self, ip: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        # An IPADDRESS holds IPv4 as IPv4-mapped IPv6, so the family test keeps `::ffff:10.0.0.1`
        # out of 10.0.0.0/8, as Python's ipaddress does. TRY_CAST: 'AWS Internal' is no address.
        family = f"strpos({ip}, ':') {'= 0' if network.version == 4 else '> 0'}"
        return f"({family} AND COALESCE(contains({literal(str(network))}, TRY_CAST({ip} AS IPADDRESS)), FALSE))"


IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_MACRO = (
    "CREATE OR REPLACE TEMP MACRO pw_ipv4(ip) AS CASE WHEN regexp_full_match(ip, "
    + literal(IPV4_OCTET + r"(\." + IPV4_OCTET + "){3}")
    + ") THEN CAST(split_part(ip, '.', 1) AS BIGINT) * 16777216 + CAST(split_part(ip, '.', 2) AS BIGINT) * 65536"
    " + CAST(split_part(ip, '.', 3) AS BIGINT) * 256 + CAST(split_part(ip, '.', 4) AS BIGINT) END"
)


class DuckDB(Dialect):
    """DuckDB with its bundled json and icu extensions (no `inet`: CIDRs are a macro over octets)."""

    def parse_json(self, text: str) -> str:
        return f"TRY_CAST({text} AS JSON)"

    def json_text(self, doc: str, path: str) -> str:
        return f"CAST(json_extract({doc}, {literal(path)}) AS VARCHAR)"

    def json_string(self, doc: str, path: str) -> str:
        where = literal(path)
        return f"CASE WHEN json_type({doc}, {where}) = 'VARCHAR' THEN json_extract_string({doc}, {where}) END"

    def json_value(self, doc: str, path: str) -> str:
        return f"json_extract({doc}, {literal(path)})"

    def json_array(self, doc: str, path: str) -> str:
        where = literal(path)
        return f"CASE WHEN json_type({doc}, {where}) = 'ARRAY' THEN CAST(json_extract({doc}, {where}) AS JSON[]) END"

    def element_string(self, element: str) -> str:
        return f"CASE WHEN json_type({element}) = 'VARCHAR' THEN json_extract_string({element}, '$') END"

    def regex(self, value: str, pattern: str) -> str:
        return f"regexp_matches({value}, {literal(pattern)})"

    def parse_time(self, text: str) -> str:
        return f"CASE WHEN {self.regex(text, _OFFSET)} THEN TRY_CAST({text} AS TIMESTAMPTZ) END"

    def time(self, moment: datetime) -> str:
        return f"CAST({literal(moment.strftime('%Y-%m-%d %H:%M:%S+00'))} AS TIMESTAMPTZ)"

    def epoch(self, ts: str) -> str:
        return f"epoch({ts})"

    def from_epoch(self, seconds: str) -> str:
        return f"to_timestamp({seconds})"

    def iso_weekday(self, local: str) -> str:
        return f"isodow({local})"

    def in_network(self, ip: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        # IPv6 has no SQL form here: an IPv6 source never matches, so the read is reported.
        if network.version == 6:
            return "FALSE"
        first, last = int(network.network_address), int(network.broadcast_address)
        return f"COALESCE(pw_ipv4({ip}) BETWEEN {first} AND {last}, FALSE)"

    def preamble(self) -> str:
        return IPV4_MACRO

    def filter(self, array: str, var: str, body: str) -> str:
        # DuckDB 1.3 deprecated the arrow lambda; 2.0 refuses it by default.
        return f"list_filter({array}, lambda {var}: {body})"

    def element(self, array: str, index: int) -> str:
        return f"{array}[{index}]"  # NULL past the end; DuckDB's element_at is for maps

    def partition(self, predicate: str, column: str) -> str:
        # Local files have no folders: the view takes partitions from the record, and a record
        # whose eventTime cannot be read has no date. It stays in, as in its Athena folder.
        return f"({column} IS NULL OR {predicate})"


TRINO = Trino("athena")
DUCKDB = DuckDB("duckdb")
DIALECTS = {"athena": TRINO, "duckdb": DUCKDB}
