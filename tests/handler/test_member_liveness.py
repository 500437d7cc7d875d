"""Liveness, in the canary function against moto: the evaluator records each heartbeat leg's last
arrival in the state table (the stack's own, and in organization mode each member's), and the
central canary pages the operations topic once per leg gone silent and publishes one aggregate
`SilentHeartbeats` metric."""

from __future__ import annotations

import importlib
import time
from types import ModuleType

import boto3
import pytest
from botocore.exceptions import ClientError

from harness import REGION, STATE_TABLE, LambdaContext, emf_records, metric_sum
from paramwatch.liveness import FORGET_DAYS, Member
from paramwatch_aws.dynamo_state import storage_key
from paramwatch_aws.liveness_store import SHARD_CAP, SHARDS, LivenessStore

BEATING = Member("444455556666", "eu-west-1", "ssm")
SILENT = Member("777788889999", "eu-central-1", "kms")


@pytest.fixture
def store(stack) -> LivenessStore:
    return LivenessStore(boto3.resource("dynamodb", region_name=REGION).Table(STATE_TABLE))


@pytest.fixture
def operations(stack) -> tuple[str, str]:
    """The operations topic, subscribed by a queue so that the test reads what it received."""
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="paramwatch-operations")["TopicArn"]
    queue = stack.sqs.create_queue(QueueName="operations")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


@pytest.fixture
def canary(stack, operations, monkeypatch) -> ModuleType:
    """The canary function with organization mode's settings (template.yaml)."""
    for key, value in {
        "CANARY_PARAMETER": "/paramwatch/paramwatch/canary",
        "AWS_REGION": REGION,
        "OPERATIONS_TOPIC_ARN": operations[0],
        "HEARTBEAT_MINUTES": "5",
        "STACK_NAME": "paramwatch",
    }.items():
        monkeypatch.setenv(key, value)
    module = importlib.import_module("canary.app")
    module.ssm_client.cache_clear()
    module.member_clients.cache_clear()
    yield module
    module.ssm_client.cache_clear()
    module.member_clients.cache_clear()


def run(canary: ModuleType) -> dict:
    return canary.lambda_handler({"detail-type": "Scheduled Event"}, LambdaContext(function_name="canary"))


def pages(stack, operations) -> list[dict]:
    return stack.drain(operations[1])


def test_a_silent_member_pages_once_and_is_counted_in_one_series(canary, store, stack, operations, capsys) -> None:
    # GIVEN one member leg that beat a minute ago and one whose last heartbeat is two hours old
    now = time.time()
    assert store.record(BEATING, now - 60) and store.record(SILENT, now - 7200)
    # WHEN the canary runs twice
    first, second = run(canary), run(canary)
    # THEN both runs see the same silent member (the stack's own legs start counting from the first run)...
    assert first["silent"] == second["silent"] == [SILENT.key]
    # ...the operations topic got one page for it, naming the account, region and leg and what to check first
    (page,) = pages(stack, operations)
    assert page["Subject"] == "paramwatch: member 777788889999 eu-central-1 silent (kms leg)"
    assert page["Subject"].isascii() and len(page["Subject"]) < 100
    assert "no kms heartbeat from account 777788889999 in eu-central-1 for more than 15 minutes" in page["Message"]
    assert "Check first: whether the trail there excludes KMS events" in page["Message"]
    assert "paramwatch doctor --stack paramwatch" in page["Message"]
    # AND each run published one SilentHeartbeats point, with no per-leg dimension
    blobs = [b for b in emf_records(capsys.readouterr().out) if "SilentHeartbeats" in b]
    assert len(blobs) == 2 and metric_sum(blobs, "SilentHeartbeats") == 2
    assert {tuple(d) for b in blobs for m in b["_aws"]["CloudWatchMetrics"] for d in m["Dimensions"]} == {("service",)}


def test_a_member_that_beats_again_then_falls_silent_again_pages_again(canary, store, stack, operations) -> None:
    now = time.time()
    store.record(SILENT, now - 7200)
    run(canary)
    assert len(pages(stack, operations)) == 1
    # WHEN it beats again, the next run finds nobody silent and pages nothing
    store.record(SILENT, now)
    assert run(canary)["silent"] == []
    assert pages(stack, operations) == []
    # AND a new silence (its last arrival is another one) is a new page
    store.record(SILENT, now - 3600)
    assert run(canary)["silent"] == [SILENT.key]
    assert len(pages(stack, operations)) == 1


def test_a_page_that_could_not_be_sent_is_sent_by_the_next_run(canary, store, stack, operations, monkeypatch) -> None:
    store.record(SILENT, time.time() - 7200)
    # GIVEN the operations topic is gone for the first run
    monkeypatch.setenv("OPERATIONS_TOPIC_ARN", operations[0] + "-missing")
    with pytest.raises(ClientError, match="NotFound"):
        run(canary)
    # WHEN it is back, the next run pages: the failed page was not marked as sent
    monkeypatch.setenv("OPERATIONS_TOPIC_ARN", operations[0])
    run(canary)
    assert len(pages(stack, operations)) == 1


def test_a_member_whose_item_expired_is_forgotten(canary, store, stack) -> None:
    # GIVEN a member silent for FORGET_DAYS: DynamoDB's TTL removed its item, its registry entry stays
    store.record(SILENT, time.time() - FORGET_DAYS * 86400)
    stack.dynamodb.delete_item(TableName=STATE_TABLE, Key={"pk": {"S": storage_key(f"alive#{SILENT.key}")}})
    # WHEN the canary runs, it counts it as nobody and drops it from the registry
    assert run(canary)["silent"] == []
    assert store.members() == []


def test_member_keys_are_bounded_and_hashed(store, stack) -> None:
    # every item key is the state table's bounded form: a kind and a SHA-256, whatever the member
    store.record(BEATING, time.time())
    keys = [item["pk"]["S"] for item in stack.items()]
    assert sorted(k.split("#")[0] for k in keys) == ["alive", "alive-registry"]
    assert all(len(k) <= 80 and BEATING.account not in k for k in keys)
    # AND the registry is sharded, each shard capped, so that no item nears DynamoDB's 400 KB
    assert SHARDS * SHARD_CAP >= 50_000 and SHARD_CAP * len(BEATING.key) < 400_000 / 2


@pytest.mark.parametrize(("mode", "legs"), [("full", ["kms", "ssm", "tamper"]), ("lean", ["ssm", "tamper"])])
def test_the_stacks_own_legs_are_checked_even_if_they_never_beat(
    canary, store, stack, operations, monkeypatch, mode, legs
) -> None:
    # GIVEN a stack whose own legs never arrived (trail off since the deploy): the first run starts them
    monkeypatch.setenv("FORWARD_MODE", mode)
    assert run(canary)["silent"] == []
    own = [Member("111122223333", REGION, leg) for leg in legs]
    assert set(store.last_seen(own)) == set(own)
    # WHEN three periods pass without an arrival (as if the first run was an hour ago)
    for leg in own:
        store.record(leg, time.time() - 3600)
    # THEN each of its legs pages once, as this stack's own blindness, never a member's
    assert run(canary)["silent"] == [leg.key for leg in own]
    subjects = sorted(page["Subject"] for page in pages(stack, operations))
    assert subjects == sorted(f"paramwatch may be blind: no {leg} heartbeat in {REGION}" for leg in legs)
    assert run(canary)["silent"] == [leg.key for leg in own] and pages(stack, operations) == []


def test_the_cost_model_counts_the_stores_registry_shards() -> None:
    from paramwatch import cost

    assert cost.REGISTRY_SHARDS == SHARDS
