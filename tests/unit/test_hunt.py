"""`paramwatch hunt`: the Athena text parses as Trino, literals are quoted, untranslated grant
fields are refused, the DDL has the documented shape, and the CLI does what the README says."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
import sqlglot
from sqlglot import exp

from paramwatch import hunt
from paramwatch.allowlist import Allowlist, Grant, validate
from paramwatch.cli import load_allowlist, main
from paramwatch.findings import Rule
from paramwatch.hunt import HuntError, Scope, build_query, untranslated
from paramwatch.sql import DUCKDB, TRINO, SqlError, like_body, literal
from paramwatch.trail_table import REGIONS, TrailLocation, ddl
from support import EVENTS

SAMPLE = load_allowlist([str(EVENTS / "allowlist.yaml")]).allowlist

# The column names of the documented CloudTrail table (Athena User Guide, "Create the table for
# CloudTrail logs in Athena using partition projection"), in order.
DOCUMENTED_COLUMNS = [
    "eventversion",
    "useridentity",
    "eventtime",
    "eventsource",
    "eventname",
    "awsregion",
    "sourceipaddress",
    "useragent",
    "errorcode",
    "errormessage",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "requestid",
    "eventid",
    "readonly",
    "resources",
    "eventtype",
    "apiversion",
    "recipientaccountid",
    "serviceeventdetails",
    "sharedeventid",
    "vpcendpointid",
    "vpcendpointaccountid",
    "eventcategory",
    "addendum",
    "sessioncredentialfromconsole",
    "edgedevicedetails",
    "tlsdetails",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_literal_doubles_quotes_and_keeps_backslashes() -> None:
    assert literal("it's") == "'it''s'"
    assert literal("a\\b--c") == "'a\\b--c'"
    with pytest.raises(SqlError):
        literal("line\nbreak")


def test_like_body_escapes_sql_wildcards_and_translates_globs() -> None:
    assert like_body("/a_b%c\\d*e?") == "/a\\_b\\%c\\\\d%e_"


def test_athena_query_parses_as_trino_with_partition_predicates_first() -> None:
    scope = Scope(since=date(2026, 3, 1), until=date(2026, 3, 31), accounts=("111122223333",), regions=("eu-west-1",))
    text = build_query(SAMPLE, TRINO, scope)
    tree = sqlglot.parse_one(text, read="trino")
    assert isinstance(tree, exp.Union)
    # the first CTE reads the table, and its WHERE starts with date, account and region
    calls = tree.find(exp.CTE)
    where = calls.find(exp.Where).sql(dialect="trino")
    assert where.index('"date" >=') < where.index("account IN") < where.index("region IN") < where.index("eventsource")
    assert "'2026/02/28'" in where and "'2026/04/01'" in where  # widened by a day for late delivery
    assert "contains('10.0.0.0/8', TRY_CAST(source_ip AS IPADDRESS))" in text
    assert "AT TIME ZONE 'Europe/Berlin'" in text


def test_every_allowlist_value_reaches_sql_as_one_literal() -> None:
    # GIVEN hostile globs: quotes, SQL comment markers, wildcards and backslashes
    hostile = "/x' OR 1=1 --_%\\"
    allowlist = validate(
        {
            "version": 1,
            "grants": [{"name": "g", "principals": [f"arn:aws:iam::1:user/{hostile}"], "parameters": [hostile]}],
            "honeytokens": [hostile],
        }
    )
    text = build_query(allowlist, TRINO)
    # WHEN parsed as Trino, THEN each appears only inside string literals, as its LIKE body
    tree = sqlglot.parse_one(text, read="trino")
    strings = {s.this for s in tree.find_all(exp.Literal) if s.is_string}
    assert like_body(hostile) in strings
    assert like_body(f"arn:aws:iam::1:user/{hostile}") in strings
    assert hostile in strings  # the honeytoken's literal prefix, compared with starts_with
    assert not [eq for eq in tree.find_all(exp.EQ) if eq.left.sql() == "1"]  # no injected `1=1`


def test_duckdb_text_differs_only_in_shims() -> None:
    athena, duck = build_query(SAMPLE, TRINO), build_query(SAMPLE, DUCKDB)
    assert "pw_ipv4(source_ip) BETWEEN 167772160 AND 184549375" in duck
    assert athena.count("missed_") == duck.count("missed_")
    assert athena.splitlines()[0] == duck.splitlines()[0] == "WITH"


class FutureGrant(Grant):
    """A grant with a condition hunt has not been taught: it must refuse, not ignore it."""

    device_posture: tuple[str, ...] = ()


def future_allowlist(posture: tuple[str, ...]) -> Allowlist:
    grant = FutureGrant(name="g", principals=["arn:aws:iam::1:user/a"], parameters=["/a/*"], device_posture=posture)
    return Allowlist(version=1, grants=[grant])


def test_an_untranslated_grant_field_is_refused() -> None:
    assert untranslated(future_allowlist(())) == []  # unset: nothing to translate
    problems = untranslated(future_allowlist(("managed",)))
    assert problems == ["grants[0] ('g').device_posture"]
    with pytest.raises(HuntError, match="device_posture"):
        build_query(future_allowlist(("managed",)), TRINO)


def test_a_grant_bulk_threshold_counts_its_reads_apart() -> None:
    # the reads a grant with its own threshold allows are counted in their own scope and window
    grant = Grant(
        name="g", principals=["arn:aws:iam::1:user/a"], parameters=["/a/*"], bulk_threshold=50, bulk_window_minutes=3
    )
    text = build_query(Allowlist(version=1, grants=[grant]), TRINO)
    sqlglot.parse_one(text, read="trino")
    assert "CASE WHEN grant_0 THEN 0 ELSE -1 END AS bulk_scope" in text
    assert "CASE bulk_scope WHEN 0 THEN 180 ELSE 600 END AS window_size" in text
    assert "CASE bulk_scope WHEN 0 THEN 50 ELSE 20 END AS threshold" in text


def test_cli_refuses_with_one_line_and_exit_2(monkeypatch, tmp_path) -> None:
    # GIVEN hunt has not (in this test) been taught the hours condition
    monkeypatch.setitem(hunt.TRANSLATED, Grant, hunt.TRANSLATED[Grant] - {"hours"})
    code, out, err = run("hunt", "--allowlist", str(EVENTS / "allowlist.yaml"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "grants[1] ('ci-deploy').hours" in err


def test_cli_prints_athena_query_and_scan_estimate() -> None:
    code, out, err = run(
        "hunt",
        "--allowlist",
        str(EVENTS / "allowlist.yaml"),
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-31",
        "--bytes-per-day",
        "2000000000",
    )
    assert code == 0
    sqlglot.parse_one(out.strip().rstrip(";"), read="trino")
    # 31 days plus a day each side, 2 GB a day: 66 GB at 5 USD per TB
    assert "33 day(s)" in err and "66.00 GB" in err and "0.3300 USD" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hunt"], "give --allowlist"),
        (["hunt", "--allowlist", "events/allowlist.yaml", "events/sample-trail"], "reads no files"),
        (["hunt", "--allowlist", "events/allowlist.yaml", "--engine", "duckdb"], "needs PATH"),
        (["hunt", "--allowlist", "events/allowlist.yaml", "--bytes-per-day", "5"], "needs --since"),
        (["hunt", "--ddl"], "--ddl needs --bucket"),
        (["hunt", "--ddl", "--bucket", "Bad_Bucket"], "not an S3 bucket name"),
        (["hunt", "--ddl", "--bucket", "b-1", "--organization", "org1"], "not an organization ID"),
        (["hunt", "--ddl", "--bucket", "b-1", "--accounts", "12"], "12-digit"),
    ],
)
def test_cli_errors_are_one_line(argv, message, monkeypatch) -> None:
    monkeypatch.chdir(EVENTS.parent)
    code, _, err = run(*argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_ddl_has_the_documented_shape_for_account_and_org_trails() -> None:
    account = ddl(TrailLocation("my-trail", "logs/ct"), accounts=("111122223333",), regions=("eu-west-1",))
    org = ddl(TrailLocation("my-trail", "", "o-abcdefghij"))
    tree = sqlglot.parse_one(account, read="hive")
    columns = [c.name for c in tree.find(exp.Schema).expressions if isinstance(c, exp.ColumnDef)]
    assert columns[: len(DOCUMENTED_COLUMNS)] == DOCUMENTED_COLUMNS
    for text in (account, org):
        assert "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'" in text
        assert "INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'" in text
        assert "PARTITIONED BY (account STRING, region STRING, `date` STRING)" in text
        assert "'projection.date.format' = 'yyyy/MM/dd'" in text
    assert "LOCATION 's3://my-trail/logs/ct/AWSLogs/'" in account
    assert "'s3://my-trail/logs/ct/AWSLogs/${account}/CloudTrail/${region}/${date}'" in account
    assert "'projection.account.type' = 'enum'" in account and "'projection.account.values' = '111122223333'" in account
    assert "'s3://my-trail/AWSLogs/o-abcdefghij/${account}/CloudTrail/${region}/${date}'" in org
    assert "'projection.account.type' = 'injected'" in org
    assert ",".join(REGIONS) in org


def test_cli_ddl_and_duckdb_table(tmp_path) -> None:
    code, out, _ = run("hunt", "--ddl", "--bucket", "my-trail", "--organization", "o-abcdefghij")
    assert code == 0 and out.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS cloudtrail (")
    code, out, err = run(
        "hunt", "--engine", "duckdb", "--allowlist", str(EVENTS / "allowlist.yaml"), "--format", "table",
        str(EVENTS / "sample-trail"),
    )  # fmt: skip
    assert code == 1
    assert out.splitlines()[0].startswith("PAGE  SEVERITY")
    assert any(line.startswith("-     CRITICAL  honeytoken") for line in out.splitlines())
    assert "hunt found" in err


def test_cli_duckdb_names_unreadable_files_and_judges_the_rest(tmp_path) -> None:
    bad = tmp_path / "broken.json.gz"
    bad.write_bytes(b"\x1f\x8bnot gzip")
    code, out, err = run(
        "hunt", "--engine", "duckdb", "--allowlist", str(EVENTS / "allowlist.yaml"),
        str(EVENTS / "sample-trail"), str(bad),
    )  # fmt: skip
    assert code == 2
    assert "broken.json.gz" in err and "1 unreadable file(s)" in err
    assert len(out.splitlines()) > 20  # the sample trail was still judged


def test_since_and_until_keep_the_days_asked_and_unreadable_times(tmp_path) -> None:
    code, out, _ = run(
        "hunt", "--engine", "duckdb", "--allowlist", str(EVENTS / "allowlist.yaml"), "--since", "2026-11-02",
        "--until", "2026-11-02", str(EVENTS / "sample-trail"),
    )  # fmt: skip
    times = [json.loads(line)["event_time"] for line in out.splitlines()]
    assert code == 1 and times
    # every finding is of 2 November, but for the read whose eventTime is unreadable (kept, not lost)
    assert {t[:10] for t in times} == {"2026-11-02", "last tuesd"}
    code, out, _ = run(
        "hunt", "--engine", "duckdb", "--allowlist", str(EVENTS / "allowlist.yaml"), "--since", "2026-11-03",
        "--rule", "unauthorized-read", str(EVENTS / "sample-trail"),
    )  # fmt: skip
    assert {json.loads(line)["event_time"][:10] for line in out.splitlines()} == {"2026-11-07"}


def test_every_rule_is_in_sql_or_named_as_left_to_replay() -> None:
    # a rule added later must be translated, or listed in NOT_IN_SQL and in the README's table
    accounted = {*hunt.PER_EVENT_RULES, Rule.BULK, Rule.ALLOWLIST_INVALID, *hunt.NOT_IN_SQL}
    assert set(Rule) == accounted
    readme = (EVENTS.parent / "README.md").read_text()
    table = readme[readme.index("**What SQL does not do.**") :]
    table = table[: table.index("**What each costs")]
    assert all(f"`{rule}`" in table for rule in hunt.NOT_IN_SQL)
