"""The cost model's arithmetic."""

from __future__ import annotations

import io

import pytest

from paramwatch import cost
from paramwatch.cli import main

PRICES = cost.load_prices()


def test_ten_reads_a_second_is_about_25_9_million_a_month_not_864_million() -> None:
    workload = cost.Workload(reads_per_second=10)
    assert workload.reads_per_month == 25_920_000
    assert workload.reads_per_month != pytest.approx(864_000_000, rel=0.5)


def test_price_table_is_dated_and_sourced() -> None:
    assert PRICES["date"] and PRICES["region"]
    assert {"lambda", "eventbridge", "sns", "dynamodb", "cloudwatch", "kms", "ssm"} <= set(PRICES["sources"])


def test_kms_requests_beyond_the_free_tier() -> None:
    (line,) = cost.workload_lines(cost.Workload(reads_per_second=10), PRICES)
    assert line.quantity == 25_920_000 - 20_000
    assert line.monthly == pytest.approx(25_900_000 / 10_000 * 0.03)


def test_customer_managed_key_and_higher_throughput_add_their_lines() -> None:
    lines = cost.workload_lines(
        cost.Workload(reads_per_second=1, customer_managed_key=True, higher_throughput=True), PRICES
    )
    by_item = {line.item: line.monthly for line in lines}
    assert by_item["KMS customer-managed keys"] == 1.0
    assert by_item["SSM higher-throughput API interactions"] == pytest.approx(2_592_000 / 10_000 * 0.05)


def test_lambda_requests_count_both_sides_of_each_read() -> None:
    lines = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)}
    assert lines["Lambda requests"].quantity == 51_840_000
    assert lines["Lambda requests"].monthly == pytest.approx(51.84 * 0.20)
    assert lines["EventBridge, AWS management events"].monthly == 0


@pytest.mark.parametrize(
    ("cpu_ms", "io_ms", "memory_mb", "billed"),
    [(0.35, 0, 1769, 1), (0.35, 0, 256, 3), (0.35, 0, 128, 5), (1.7, 40, 256, 52), (0.0, 0, 256, 1)],
)
def test_billed_milliseconds(cpu_ms: float, io_ms: float, memory_mb: int, billed: int) -> None:
    assert cost.billed_ms(cpu_ms, io_ms, memory_mb) == billed


def test_cheapest_memory_is_ranked() -> None:
    ranking = cost.cheapest_memory(cost.Workload(reads_per_second=10), PRICES)
    assert [monthly for _, monthly in ranking] == sorted(monthly for _, monthly in ranking)
    assert len(ranking) == 5


def test_cost_command_prints_both_bills() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["cost", "--reads-per-second", "10"], out=out, err=err) == 0
    text = out.getvalue()
    assert text.startswith("25,920,000 secret reads a month")
    assert "already paid by the watched workload" in text and "77.70 USD" in text


def test_cost_command_rejects_a_share_above_one(capsys) -> None:
    err = io.StringIO()
    assert main(["cost", "--reads-per-second", "1", "--violation-share", "2"], out=io.StringIO(), err=err) == 2
    assert "argument --violation-share: must be a share from 0 to 1, got 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--memory-mb", "0", "Lambda memory is 128 to 10240 MB, got 0"),
        ("--memory-mb", "20000", "Lambda memory is 128 to 10240 MB"),
        ("--reads-per-second", "nan", "must be a finite number of 0 or more, got nan"),
        ("--reads-per-second", "inf", "must be a finite number"),
        ("--reads-per-second", "-1", "must be a finite number"),
        ("--violation-share", "nan", "must be a share from 0 to 1, got nan"),
        ("--memory-mb", "nan", "argument --memory-mb: must be a whole number, got 'nan'"),
        ("--memory-mb", "inf", "must be a whole number, got 'inf'"),
        ("--reads-per-second", "x", "argument --reads-per-second: must be a number, got 'x'"),
    ],
)
def test_cost_command_refuses_what_lambda_or_arithmetic_cannot_take(capsys, flag, value, says) -> None:
    argv = ["cost", "--reads-per-second", "10", flag, value]
    assert main(argv, out=io.StringIO(), err=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert "invalid _" not in err  # argparse names the type function when it raises ValueError


def test_the_heartbeat_is_on_the_bill() -> None:
    # GIVEN the default 5-minute heartbeat: 8,640 canary reads and labels a month, judged on three legs
    lines = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)}
    assert lines["heartbeat: schedule ticks (Scheduler price, upper bound)"].quantity == 8_640
    assert lines["heartbeat: Lambda requests (canaries and each leg)"].quantity == 8_640 * 4
    assert lines["heartbeat: KMS Decrypt of the canaries (aws/ssm key)"].monthly == pytest.approx(8_640 / 10_000 * 0.03)
    assert lines["heartbeat: members' legs forwarded to the central bus"].quantity == 0
    # one SilentHeartbeats series and one alarm, not a series and alarm per leg
    assert lines["heartbeat: SilentHeartbeats metric"].monthly == pytest.approx(0.30)
    assert lines["heartbeat: HeartbeatAlarm"].monthly == pytest.approx(0.10)
    # each leg's arrival, and the canary renewing its own legs: one write unit each
    assert lines["heartbeat: last arrivals written (DynamoDB)"].quantity == 8_640 * 3 * 2
    # the canary reads its three legs and the registry's 16 shards each period, half a unit each
    assert lines["heartbeat: canary's checks (DynamoDB)"].quantity == 8_640 * (16 + 3) * 0.5
    heartbeat = sum(line.monthly for item, line in lines.items() if item.startswith("heartbeat:"))
    assert 0.45 < heartbeat < 0.5  # the metric and alarm are most of it
    # AND a slower heartbeat costs fewer reads, not fewer metrics
    slow = cost.heartbeat_lines(cost.Workload(reads_per_second=10, heartbeat_minutes=60), PRICES)
    assert slow[0].quantity == 720


@pytest.mark.parametrize(("lean", "central_legs", "member_legs"), [(False, 3, 2), (True, 2, 1)])
def test_every_member_account_and_region_runs_its_own_canary(lean: bool, central_legs: int, member_legs: int) -> None:
    # GIVEN 50 accounts x 3 regions: the central stack's canary in its home region, and a member
    # canary in each of the other 149, whose read (and, in full mode, Decrypt) cross to the central
    # bus; members forward no write events, so their label is no leg
    workload = cost.Workload(reads_per_second=10, accounts=50, regions=3, lean=lean)
    lines = {line.item: line for line in cost.heartbeat_lines(workload, PRICES)}
    beats = 30 * 24 * 12  # 8,640 a month in each account and region
    canaries = 150 * beats
    forwarded = 149 * member_legs * beats
    evaluations = central_legs * beats + forwarded
    # THEN every canary's tick, invocation and Decrypt is on the organization's bill
    assert lines["heartbeat: schedule ticks (Scheduler price, upper bound)"].quantity == canaries == 1_296_000
    assert lines["heartbeat: schedule ticks (Scheduler price, upper bound)"].monthly == pytest.approx(1.296 * 1.00)
    requests = lines["heartbeat: Lambda requests (canaries and each leg)"]
    assert requests.quantity == canaries + evaluations
    assert requests.monthly == pytest.approx((canaries + evaluations) / 1e6 * 0.20)
    kms = lines["heartbeat: KMS Decrypt of the canaries (aws/ssm key)"]
    assert kms.monthly == pytest.approx(1_296_000 / 10_000 * 0.03) == pytest.approx(3.888)
    # AND the members' legs are custom events on the central bus, 1 USD a million
    crossing = lines["heartbeat: members' legs forwarded to the central bus"]
    assert crossing.quantity == forwarded
    assert crossing.monthly == pytest.approx(forwarded / 1e6 * 1.00)
    # AND no metric series per member: each leg's arrival is one write unit in the state table...
    writes = lines["heartbeat: last arrivals written (DynamoDB)"]
    assert writes.quantity == evaluations + central_legs * beats
    assert writes.monthly == pytest.approx(writes.quantity / 1e6 * 0.625)
    # ...which the central canary reads every period (eventually consistent: half a unit an item)
    checks = lines["heartbeat: canary's checks (DynamoDB)"]
    assert checks.quantity == beats * (cost.REGISTRY_SHARDS + central_legs + 149 * member_legs) * 0.5
    # AND one SilentHeartbeats series and one alarm, whatever the number of members
    bigger = cost.Workload(reads_per_second=10, accounts=500, regions=3, lean=lean)
    grown = {line.item: line for line in cost.heartbeat_lines(bigger, PRICES)}
    for item, monthly in (("heartbeat: SilentHeartbeats metric", 0.30), ("heartbeat: HeartbeatAlarm", 0.10)):
        assert lines[item].monthly == grown[item].monthly == pytest.approx(monthly)
    assert lines["heartbeat: logs"].quantity == pytest.approx(canaries * 700 / 2**30)
    # AND the evaluator's duration covers every leg, the canaries' 100 ms each at 128 MB
    duration = lines["heartbeat: Lambda duration"]
    assert duration.quantity == pytest.approx(canaries * 0.1 * 0.125 + evaluations * 0.003 * 0.25)


def test_cost_command_takes_the_heartbeat_period() -> None:
    out = io.StringIO()
    assert main(["cost", "--reads-per-second", "1", "--heartbeat-minutes", "15"], out=out, err=io.StringIO()) == 0
    assert "heartbeat: schedule ticks" in out.getvalue() and "2,880 ticks" in out.getvalue()


def test_lean_mode_halves_the_events() -> None:
    full = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)}
    lean = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10, lean=True), PRICES)}
    assert lean["Lambda requests"].quantity == full["Lambda requests"].quantity / 2 == 25_920_000
    assert lean["CloudWatch Logs ingestion"].monthly == pytest.approx(full["CloudWatch Logs ingestion"].monthly / 2)


def test_pages_are_counted_after_suppression_for_the_incident_shape() -> None:
    # 1% of 25,920,000 reads violate, from 10 (principal, parameter) pairs repeating all month:
    # each pair pages once per 60-minute window, 720 windows a month
    workload = cost.Workload(reads_per_second=10)
    lines = {line.item: line for line in cost.monitor_lines(workload, PRICES)}
    assert lines["SNS publishes (pages, after suppression)"].quantity == 10 * 720 == workload.pages_per_month
    assert lines["SNS e-mail deliveries"].monthly == pytest.approx(7_200 / 100_000 * 2.00)
    # a rare violation pages every time
    rare = cost.Workload(reads_per_second=10, violation_share=1e-6)
    assert rare.pages_per_month == pytest.approx(25.92)


def test_allowed_reads_write_no_log_bytes() -> None:
    workload = cost.Workload(reads_per_second=10, violation_share=0)
    lines = {line.item: line for line in cost.monitor_lines(workload, PRICES)}
    assert lines["CloudWatch Logs ingestion"].monthly == 0


@pytest.mark.parametrize("lean", [False, True])
def test_organization_forwarding_is_billed_as_custom_events(lean: bool) -> None:
    # 50 accounts x 3 regions: every event outside the security account's own region crosses to
    # the central bus at 1 USD a million
    workload = cost.Workload(reads_per_second=10, accounts=50, regions=3, lean=lean)
    lines = {line.item: line for line in cost.monitor_lines(workload, PRICES)}
    events = 25_920_000 * (1 if lean else 2)
    assert lines["EventBridge, forwarded to the central bus"].quantity == pytest.approx(events * 149 / 150)
    assert lines["EventBridge, forwarded to the central bus"].monthly == pytest.approx(events * 149 / 150 / 1e6)
    assert lines["CloudWatch alarms"].quantity == cost.ALARM_METRICS + cost.ORGANIZATION_ALARM_METRICS
    alone = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)}
    assert alone["EventBridge, forwarded to the central bus"].monthly == 0


def test_kms_free_tier_is_per_account() -> None:
    (line,) = cost.workload_lines(cost.Workload(reads_per_second=10, accounts=50, regions=3), PRICES)
    assert line.quantity == 25_920_000 - 50 * 20_000


def test_cost_command_shows_both_modes_at_organization_scale() -> None:
    out = io.StringIO()
    assert main(["cost", "--reads-per-second", "10", "--accounts", "50", "--regions", "3"], out=out) == 0
    text = out.getvalue()
    assert "across 50 account(s) x 3 region(s)" in text
    assert "full mode" in text and "lean mode" in text
    assert "EventBridge, forwarded to the central bus" in text
    assert "of the workload's KMS Decrypt bill" in text


@pytest.mark.parametrize("flag", ["--accounts", "--regions", "--violating-pairs", "--suppression-minutes"])
def test_cost_command_rejects_counts_below_one(capsys, flag: str) -> None:
    assert main(["cost", "--reads-per-second", "1", flag, "0"], out=io.StringIO(), err=io.StringIO()) == 2
    assert f"argument {flag}: must be 1 or more, got 0" in capsys.readouterr().err


def test_every_finding_put_on_the_findings_bus_is_a_custom_event() -> None:
    # every finding, paged or not, is put on the findings bus: 1% of 25,920,000 reads, two events each
    lines = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)}
    line = lines["EventBridge, findings put on the findings bus"]
    assert line.quantity == 518_400 and line.monthly == pytest.approx(0.5184)


def test_the_dashboard_costs_only_when_enabled() -> None:
    # 3 USD a month: the account's three free dashboards may be other workloads', so none is counted
    off = [line.item for line in cost.monitor_lines(cost.Workload(reads_per_second=10), PRICES)]
    assert not [item for item in off if "dashboard" in item]
    on = {line.item: line for line in cost.monitor_lines(cost.Workload(reads_per_second=10, dashboard=True), PRICES)}
    assert on["CloudWatch dashboard (DashboardEnabled=true)"].monthly == 3.00


@pytest.mark.parametrize(("lean", "goal"), [(False, cost.FULL_GOAL), (True, cost.LEAN_GOAL)])
def test_the_goal_is_met_from_the_rate_the_command_prints(lean: bool, goal: float) -> None:
    # GIVEN one account: the fixed part thins out as reads grow, the per-read part stays below the goal
    workload = cost.Workload(reads_per_second=10, lean=lean)
    rate = cost.goal_met_from(workload, PRICES, goal)
    assert rate is not None
    at = cost.Workload(reads_per_second=rate, lean=lean)
    below = cost.Workload(reads_per_second=rate - 0.2, lean=lean)
    # THEN the goal holds at that rate and not just below it
    assert cost.share(at, PRICES) <= goal < cost.share(below, PRICES)


@pytest.mark.parametrize("lean", [False, True])
def test_at_organization_scale_forwarding_alone_exceeds_the_goal(lean: bool) -> None:
    # a read forwarded from a member costs 1 USD a million per event, a third of its KMS Decrypt (3 USD
    # a million): in full mode two events, 67% of the KMS bill before anything else
    workload = cost.Workload(reads_per_second=10, accounts=50, regions=3, lean=lean)
    assert cost.goal_met_from(workload, PRICES, cost.LEAN_GOAL if lean else cost.FULL_GOAL) is None


def test_the_cost_command_says_from_which_rate_the_goal_is_met() -> None:
    out = io.StringIO()
    assert main(["cost", "--reads-per-second", "10"], out=out) == 0
    text = out.getvalue()
    full = cost.goal_met_from(cost.Workload(reads_per_second=10), PRICES, cost.FULL_GOAL)
    assert f"goal of 20% in full mode, with everything else as above: met from {full:,.1f} reads/s" in text
    out = io.StringIO()
    assert main(["cost", "--reads-per-second", "10", "--accounts", "50", "--regions", "3", "--dashboard"], out=out) == 0
    assert "goal of 10% in lean mode, with everything else as above: met at no read rate" in out.getvalue()
    assert "CloudWatch dashboard (DashboardEnabled=true)" in out.getvalue()


def test_the_readme_quotes_the_cost_command() -> None:
    from support import ROOT

    readme = (ROOT / "README.md").read_text()
    totals = {}
    for argv in (["--accounts", "50", "--regions", "3"], []):
        out = io.StringIO()
        assert main(["cost", "--reads-per-second", "10", *argv], out=out) == 0
        line = next(row for row in out.getvalue().splitlines() if row.strip().startswith("total") and "USD" in row)
        totals[len(argv)] = line.split()[1::2]
    full, lean = totals[4]
    assert f"**{full}**" in readme and f"**{lean}**" in readme
    full, lean = totals[0]
    assert f"**{full} USD** a month in\nfull mode and **{lean} USD** in lean mode" in readme


def test_the_goals_stay_out_of_reach_without_dropping_alarms_or_encryption() -> None:
    """The README's "Why the goals stay out of reach": its figures are the model's, and they hold."""
    from support import ROOT

    def bill(lean: bool) -> tuple[dict[str, float], float]:
        workload = cost.Workload(reads_per_second=10, lean=lean)
        lines = {line.item: line.monthly for line in cost.monitor_lines(workload, PRICES)}
        kms = sum(line.monthly for line in cost.workload_lines(workload, PRICES) if line.item.startswith("KMS Decrypt"))
        return lines, kms

    def metrics(lines: dict[str, float]) -> float:
        return lines["CloudWatch custom metrics (published hourly)"] + lines["heartbeat: SilentHeartbeats metric"]

    readme = " ".join((ROOT / "README.md").read_text().split())
    lean, kms = bill(lean=True)
    kept = (
        lean["Lambda requests"]
        + lean["KMS pipeline key"]
        + lean["CloudWatch alarms"]
        + lean["heartbeat: HeartbeatAlarm"]
    )
    goal = cost.LEAN_GOAL * kms
    assert f"goal is {goal:.2f} USD" in readme and f"are {kept:.2f} USD, which leaves {goal - kept:.2f} USD" in readme
    violations = sum(
        lean[item] for item in lean if item.startswith(("DynamoDB", "SNS", "CloudWatch Logs", "EventBridge, findings"))
    )
    assert goal - kept < violations and f"violations alone cost {violations:.2f} USD" in readme
    without_metrics = sum(lean.values()) - metrics(lean)
    assert without_metrics > goal and f"dropped: {without_metrics:.2f} USD, {without_metrics / kms:.1%}" in readme
    full, kms = bill(lean=False)
    without_metrics = sum(full.values()) - metrics(full)
    assert without_metrics > cost.FULL_GOAL * kms and f"dropped is {without_metrics:.2f} USD" in readme
