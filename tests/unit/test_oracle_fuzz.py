"""Fuzzing with independent oracles: the right verdict is known by construction.

Each example is one grant and one decrypting read built to satisfy all of the grant's conditions,
or to break exactly one of them (principal, parameter, path, network with its anchor, hours
across daylight saving time, expiry). The expectation comes from how the read was built and from
the README's rules, computed with the standard library (zoneinfo, ipaddress), never from the code
under test: a satisfying read gives no finding, a breaking one gives `unauthorized-read`.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from paramwatch.allowlist import parse
from paramwatch.detector import judge

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ENDPOINT = "vpce-0a1b2c3d4e5f60718"
OTHER_ENDPOINT = "vpce-0fedcba987654321f"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# the EU and the US change clocks on different Sundays; both zones are in the window's span
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
CONDITIONS = ["principal", "parameter", "path", "network", "hours", "expiry"]

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[dict, dict, str | None]:
    """A grant (as allowlist data), a read, and the condition the read breaks (None: it satisfies all)."""
    broken = draw(st.sampled_from([None, *CONDITIONS]))
    role_path = draw(st.sampled_from(["", "app/", "team/ci/"]))
    role = draw(segment)
    team, leaf = draw(segment), draw(segment)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role_path}{role}"
    grant: dict = {"name": "g", "principals": [role_arn], "parameters": [f"/{team}/*"]}
    caller_role = role_arn
    by_path = draw(st.booleans()) or broken == "path"
    names = [f"/{team}/{leaf}"]
    path = f"/{team}" if by_path else None

    if broken == "principal":
        caller_role = draw(
            st.sampled_from(
                [
                    f"arn:aws:iam::{ACCOUNT}:role/{role_path}{role}x",  # a longer name: no substring match
                    f"arn:aws:iam::{OTHER_ACCOUNT}:role/{role_path}{role}",  # the same name elsewhere
                    f"arn:aws:iam::{ACCOUNT}:role/other/{role}",  # another path
                ]
            )
        )
    if broken == "parameter":
        by_path, path = False, None
        names = [draw(st.sampled_from([f"/{team}x/{leaf}", f"/{team.upper()}Z/{leaf}", f"/other/{team}/{leaf}"]))]
    if broken == "path":
        path = "/"  # a pattern for /team/* does not cover everything under /

    # network: a public range alone, or a private range anchored by an endpoint
    network = draw(st.sampled_from(["any", "public", "anchored"]))
    if broken == "network" and network == "any":
        network = "public"
    source_ip, endpoint = draw(st.sampled_from(["203.0.113.9", "198.51.100.200"])), None
    if network == "public":
        grant["source_cidrs"] = ["203.0.113.0/24"]
        host = draw(st.integers(1, 254))
        source_ip = f"203.0.113.{host}" if broken != "network" else f"198.51.100.{host}"
    elif network == "anchored":
        grant["source_cidrs"] = ["10.0.0.0/8"]
        grant["vpc_endpoints"] = [ENDPOINT]
        source_ip = f"10.{draw(st.integers(0, 255))}.{draw(st.integers(0, 255))}.{draw(st.integers(1, 254))}"
        endpoint = ENDPOINT
        if broken == "network":
            how = draw(st.sampled_from(["no-endpoint", "other-endpoint", "outside-range"]))
            if how == "no-endpoint":
                endpoint = None  # the same private address from anyone's VPC
            elif how == "other-endpoint":
                endpoint = OTHER_ENDPOINT
            else:
                source_ip = f"172.16.{draw(st.integers(0, 255))}.{draw(st.integers(1, 254))}"
        assert ipaddress.ip_address(source_ip).is_private

    # hours: weekdays 09:00-17:00 local, on a day near a daylight saving change
    moment = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    if draw(st.booleans()) or broken == "hours":
        zone = draw(st.sampled_from(ZONES))
        grant["hours"] = {"days": DAYS[:5], "start": "09:00", "end": "17:00", "timezone": zone}
        anchor = draw(st.sampled_from([date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)]))
        day = anchor + timedelta(days=draw(st.integers(-3, 3)))
        weekday = day.weekday() < 5
        if broken == "hours":
            local = draw(
                st.sampled_from(
                    [clock(8, 59), clock(17, 1), clock(3, 0), clock(23, 30)] + ([clock(12, 0)] if not weekday else [])
                )
            )
        else:
            if not weekday:
                day += timedelta(days=7 - day.weekday())  # the Monday after
            local = clock(draw(st.integers(9, 16)), draw(st.integers(0, 59)))
        moment = datetime.combine(day, local, tzinfo=ZoneInfo(zone)).astimezone(UTC)

    # expiry: a read the day before the grant's last day passes, a read the day after does not
    if draw(st.booleans()) or broken == "expiry":
        expires = moment.date() + timedelta(days=1 if broken != "expiry" else -1)
        grant["expires"] = expires.isoformat()

    params: dict = {"withDecryption": True}
    if path is not None:
        params.update(path=path, recursive=True)
        event = "GetParametersByPath"
    else:
        params["name"] = names[0]
        event = "GetParameter"
    record = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:session",
            "arn": f"arn:aws:sts::{caller_role.split(':')[4]}:assumed-role/{caller_role.rsplit('/', 1)[1]}/session",
            "accountId": caller_role.split(":")[4],
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": caller_role,
                    "accountId": caller_role.split(":")[4],
                    "userName": caller_role.rsplit("/", 1)[1],
                }
            },
        },
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ssm.amazonaws.com",
        "eventName": event,
        "awsRegion": "us-east-1",
        "sourceIPAddress": source_ip,
        "userAgent": "aws-sdk-go-v2/1.30.0",
        "requestParameters": params,
        "eventID": "fuzz-1",
        "recipientAccountId": ACCOUNT,
        **({"vpcEndpointId": endpoint} if endpoint else {}),
    }
    return {"version": 1, "grants": [grant], "honeytokens": []}, record, broken


@settings(max_examples=600, deadline=None)
@given(scenario())
def test_a_read_built_to_satisfy_or_break_one_condition_gets_the_known_verdict(case) -> None:
    document, record, broken = case
    finding = judge(record, parse(json.dumps(document)))
    if broken is None:
        assert finding is None, finding.summary
    else:
        assert finding is not None, f"a read that breaks the grant's {broken} condition was allowed"
        assert str(finding.rule) == "unauthorized-read", (broken, finding.summary)
