"""Property tests for the two rules of issue 9 that are rules, not examples: a private range never
matches without an anchor, and a grant written as paths never matches another account's parameter."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given
from hypothesis import strategies as st

from paramwatch.allowlist import PRIVATE_RANGES, validate
from paramwatch.detector import judge
from support import ssm_read

ENDPOINTS = st.from_regex(r"vpce-[0-9a-f]{17}", fullmatch=True)
ACCOUNTS = st.from_regex(r"[0-9]{12}", fullmatch=True)
HOME = "111122223333"


@st.composite
def networks(draw) -> str:
    """Any CIDR: inside a private range, a public one, or one that spans both (0.0.0.0/0)."""
    base = draw(st.sampled_from([*PRIVATE_RANGES, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]))
    prefix = draw(st.integers(base.prefixlen, base.max_prefixlen))
    offset = draw(st.integers(0, 2 ** (base.max_prefixlen - base.prefixlen) - 1))
    address = base.network_address + offset
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@st.composite
def private_addresses(draw) -> str:
    net = draw(st.sampled_from(PRIVATE_RANGES))
    address = net.network_address + draw(st.integers(0, net.num_addresses - 1))
    mapped = draw(st.booleans()) and address.version == 4
    return f"::ffff:{address}" if mapped else str(address)


@given(
    cidrs=st.lists(networks(), min_size=1, max_size=4),
    endpoints=st.lists(ENDPOINTS, max_size=2),
    owners=st.lists(ACCOUNTS, max_size=2),
    ip=private_addresses(),
    endpoint=st.one_of(st.none(), ENDPOINTS),
    owner=st.one_of(st.none(), ACCOUNTS),
)
def test_no_private_address_matches_without_an_anchor(cidrs, endpoints, owners, ip, endpoint, owner) -> None:
    # GIVEN any grant whose ranges the allowlist accepts (a private range needs an anchor)
    grant = {"name": "g", "principals": ["arn:aws:iam::1:user/a"], "parameters": ["/a/*"], "source_cidrs": cidrs}
    grant.update(vpc_endpoints=endpoints, vpc_endpoint_accounts=owners)
    try:
        g = validate({"version": 1, "grants": [grant]}).grants[0]
    except ValueError:
        return  # refused by check-allowlist: it can match nothing
    # AND a call from a private address that came through no endpoint the grant names or trusts
    assume(endpoint not in endpoints and (endpoint is None or owner not in owners))
    # THEN the network condition never matches
    assert not g.allows_source(ip, endpoint, owner)


GLOB = st.text(alphabet="/abc*?", min_size=1, max_size=10).map(
    lambda s: s if s.startswith(("/", "*", "?")) else "/" + s
)


@given(
    patterns=st.lists(GLOB, min_size=1, max_size=4),
    name=st.text(alphabet="/abc", min_size=1, max_size=12).filter(lambda s: s.strip("/")),
    account=ACCOUNTS.filter(lambda a: a != HOME),
    region=st.sampled_from(["us-east-1", "eu-central-1"]),
)
def test_no_path_grant_matches_another_accounts_parameter(patterns, name, account, region) -> None:
    # GIVEN a grant written as paths for alice (account 111122223333)
    allowlist = validate(
        {
            "version": 1,
            "grants": [{"name": "g", "principals": [f"arn:aws:iam::{HOME}:user/alice"], "parameters": patterns}],
        }
    )
    # WHEN alice reads a parameter of another account by its ARN
    arn = f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
    finding = judge(ssm_read("x", [arn]), allowlist)
    # THEN no grant allows it, and the finding names the parameter with its account
    assert finding is not None and str(finding.rule) == "unauthorized-read"
    assert finding.parameters[0].startswith(f"arn:aws:ssm:{region}:{account}:parameter/")


@st.composite
def any_addresses(draw) -> str:
    """A private, a public or an IPv4-mapped address: behind an endpoint, whatever its VPC uses."""
    net = draw(st.sampled_from([*PRIVATE_RANGES, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]))
    return str(net.network_address + draw(st.integers(0, net.num_addresses - 1)))


@given(
    cidrs=st.lists(networks(), min_size=1, max_size=4),
    endpoints=st.lists(ENDPOINTS, max_size=2),
    owners=st.lists(ACCOUNTS, max_size=2),
    ip=any_addresses(),
    endpoint=ENDPOINTS,
    owner=st.one_of(st.none(), ACCOUNTS),
)
def test_no_call_through_a_foreign_endpoint_matches(cidrs, endpoints, owners, ip, endpoint, owner) -> None:
    # GIVEN any grant the allowlist accepts, with public ranges, private ranges or both
    grant = {"name": "g", "principals": ["arn:aws:iam::1:user/a"], "parameters": ["/a/*"], "source_cidrs": cidrs}
    grant.update(vpc_endpoints=endpoints, vpc_endpoint_accounts=owners)
    try:
        g = validate({"version": 1, "grants": [grant]}).grants[0]
    except ValueError:
        return
    # AND a call through an endpoint the grant neither names nor trusts, from any address (the
    # endpoint's VPC picks its own CIDR, publicly routable ranges included)
    assume(endpoint not in endpoints and owner not in owners)
    # THEN the network condition never matches
    assert not g.allows_source(ip, endpoint, owner)
