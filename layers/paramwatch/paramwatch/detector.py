"""Detections that remember: duplicates, SSM+KMS pairs, suppression, bulk reads, first-seen
access and denied bursts, on top of the stateless rules.

One incident, one page. A finding pages unless the same unit (rule, principal, parameter or path)
paged less than `suppression_minutes` before or after it, or it is part of an incident that already
paged: the other side of the same read (the SSM call and the Decrypt SSM made for it), the
by-path call whose Decrypts it is, or the sweep a bulk finding counts. Windows only place state
items; every "within N minutes" also looks at the neighbouring window, so a pair or a repeat on
either side of 11:00:00 pages once.

Everything is keyed by event time, never arrival time, so the set of units that page does not depend
on the order in which EventBridge delivers events; `paramwatch replay` additionally feeds events in
event-time order, so a backtest gives the same verdicts for any order of records and folders.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paramwatch import tamper
from paramwatch.access import Access, is_relevant, parse_time, to_access
from paramwatch.allowlist import Allowlist, Grant
from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.escape import safe
from paramwatch.findings import Caller, Finding, Rule, Severity
from paramwatch.heartbeat import Heartbeat, heartbeat_of, write_heartbeat_of
from paramwatch.matching import granted_by, granting
from paramwatch.own import Own
from paramwatch.rules import DENIAL_CODES, evaluate, finding_for, parse_record, reads_only_public
from paramwatch.state import Claim, Delivery, State
from paramwatch.tamper import Change, change_of, tamper_finding

# The SSM call and the Decrypt SSM makes for it carry the same eventTime second in every pair of
# the Invictus/Stratus Red Team trail (121 of 121 pairs, 0 s apart; measured with
# tests/unit/test_real_logs.py). Both times are truncated to whole seconds, so a call that crosses a
# second boundary shows 1 s; one more second of margin gives 2. A Decrypt SSM made joins a by-path
# call of its principal only this close; otherwise it labels a repeat "paired" (whether a repeat
# pages depends on the suppression window, which is far wider).
PAIR_SECONDS = 2
SSM_MADE_UNIT = "ssm-made-decrypts"
BY_PATH_PART = "part of GetParametersByPath event"
SWEEP_PART = "part of the by-path sweep of event"
INDEX_CAP = 64
# bulk windows count past their threshold so that `replay --learn` can record each principal's peak
# for suggest-allowlist; a window still holds at most this many 20-character digests (about 23 KB)
BULK_PEAK_CAP = 1000
KNOWN_CAP = 1000
SHOWN_NAMES = 20  # a bulk alert names this many parameters, then says how many more
PAIR_PREFIX = "pair#"
DAY = 86400
# Refusals CloudTrail records. A GetParameter of a missing name is not recorded at all (SSM API
# reference, ParameterNotFound) and GetParameters reports missing names in a successful response,
# so guessing names shows up as permission errors; the not-found codes are kept for calls the
# documentation does not exempt (GetParameterHistory, a missing version or label).
ENUMERATION_CODES = DENIAL_CODES | {"ParameterNotFound", "ParameterVersionNotFound"}


class Tuning(BaseModel):
    """The detections' knobs; each is a template parameter. Defaults are explained in the README."""

    model_config = ConfigDict(frozen=True)

    suppression_minutes: int = Field(default=60, ge=1, le=1440)
    bulk_threshold: int = Field(default=20, ge=2, le=10000)
    bulk_window_minutes: int = Field(default=10, ge=1, le=1440)
    denied_threshold: int = Field(default=10, ge=2, le=10000)
    denied_window_minutes: int = Field(default=5, ge=1, le=1440)
    learning_days: int = Field(default=7, ge=0, le=365)
    baseline_days: int = Field(default=180, ge=1, le=3650)
    dedup_hours: int = Field(default=24, ge=1, le=720)
    storm_pairs: int = Field(default=10, ge=1, le=10000)
    storm_ratio: float = Field(default=2.0, ge=0, le=100)


@dataclass(frozen=True, slots=True)
class Judged:
    """A record after the stateless part of judging, which may run in another process.

    A read carries its `access` (and is maybe a canary's `heartbeat`); a write that may blind
    paramwatch carries its `change`. Either may carry the `primary` finding of its rules.
    """

    invalid: Finding | None = None
    access: Access | None = None
    primary: Finding | None = None
    change: Change | None = None
    heartbeat: Heartbeat | None = None
    grant: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """What the families judge against: the allowlist, paramwatch's own resources, and whether
    an allowed read should name its grant (replay reports stale grants; Lambda does not pay for it)."""

    allowlist: Allowlist
    own: Own
    track_grants: bool = False


@dataclass(frozen=True, slots=True)
class Family:
    """A family of rules: which validated records it judges, and how."""

    name: str
    wants: Callable[[dict[str, Any], Own], bool]
    judge: Callable[[CloudTrailRecord, Scope], Judged | None]


def _judge_read(parsed: CloudTrailRecord, scope: Scope) -> Judged:
    access = to_access(parsed)
    beat = heartbeat_of(access, scope.own)
    if beat is not None:
        return Judged(access=access, heartbeat=beat)
    primary = evaluate(access, scope.allowlist)
    track = scope.track_grants and primary is None and access.decrypted
    grant = granted_by(access, scope.allowlist)[0] if track else None
    return Judged(access=access, primary=primary, grant=grant.name if grant else None)


def _judge_write(parsed: CloudTrailRecord, scope: Scope) -> Judged | None:
    beat = write_heartbeat_of(parsed, scope.own)
    if beat is not None:
        return Judged(heartbeat=beat)
    change = change_of(parsed, scope.own)
    return None if change is None else Judged(change=change, primary=tamper_finding(parsed, change))


# The rule families side by side: reads (rules.py, heartbeat.py) and tamper (tamper.py).
FAMILIES = (
    Family("read", lambda record, _: is_relevant(record), _judge_read),
    Family("tamper", tamper.wants, _judge_write),
)
NOBODY = Own()


def prejudge(record: Any, allowlist: Allowlist, own: Own = NOBODY, track_grants: bool = False) -> Judged | None:
    """Validate, then let the family that wants the record judge it; None when none does.

    With `track_grants`, an allowed read also names the grant that allowed it.
    """
    parsed = parse_record(record)
    if isinstance(parsed, Finding):
        return Judged(invalid=parsed)
    for family in FAMILIES:
        if family.wants(record, own):
            return family.judge(parsed, Scope(allowlist, own, track_grants))
    return None


def judge(record: Any, allowlist: Allowlist, own: Own = NOBODY) -> Finding | None:
    """The stateless verdict on one raw record: an invalid-event finding, a rule's finding, or None."""
    judged = prejudge(record, allowlist, own)
    return None if judged is None else judged.invalid or judged.primary


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdicts on one record, and the event whose work must then be finished or abandoned."""

    verdicts: list[Verdict]
    begun: str | None = None
    heartbeat: Heartbeat | None = None
    change: Change | None = None


class EventInProgress(RuntimeError):
    """Another invocation holds this event; raising lets Lambda retry it later."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A finding and whether it pages a person, with the reason when it does not."""

    finding: Finding
    paged: bool
    reason: str | None = None
    held_back: int = 0
    notes: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    holds: tuple[tuple[str, float], ...] = field(default=(), repr=False)
    # "path" for a by-path call that revealed secrets, "kms" for a Decrypt SSM made: the parts of
    # a read incident whose page may wait a few seconds to name them all (see `hold`)
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding's fields plus `paged`, `reason`, `held_back` and `notes`."""
        data = self.finding.to_dict()
        data.update(paged=self.paged, reason=self.reason, held_back=self.held_back, notes=list(self.notes))
        data["paged_for"] = list(self.units)
        return data


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A finding before paging: the units it pages for, and the time that places it in a window.

    `owner` names the candidate in claims. `access` is set for findings about one read, which may
    pair with the other side of the same read; `kind` says which detection raised it.
    """

    finding: Finding
    units: tuple[str, ...]
    incident_time: float
    owner: str
    notes: tuple[str, ...] = ()
    access: Access | None = None
    kind: str = "read"
    folded: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One line of a principal's recent-incident index (see `Detector._index`)."""

    kind: str  # "path" (a by-path call) or "kms" (an SSM-made Decrypt that paged)
    rule: str
    paged: bool
    time: float
    recursive: bool
    digests: tuple[str, ...]
    event: str

    def encode(self) -> str:
        flags = f"{int(self.paged)}{int(self.recursive)}"
        return "|".join((self.kind, self.rule, flags, f"{self.time:.0f}", ",".join(self.digests), self.event))

    @classmethod
    def decode(cls, text: str) -> _Entry | None:
        parts = text.split("|", 5)
        if len(parts) != 6 or len(parts[2]) != 2:
            return None
        kind, rule, flags, moment, digests, event = parts
        try:
            when = float(moment)
        except ValueError:
            return None
        return cls(kind, rule, flags[0] == "1", when, flags[1] == "1", tuple(digests.split(",")), event)


def remember_pairs(state: State, principal: str, parameters: list[str], expires: float) -> int:
    """Count pairs towards the principal's history (the baseline of the first-seen storm)."""
    return state.add_members(f"known#{principal}", [_digest(p) for p in parameters], expires, cap=KNOWN_CAP)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _ancestors(name: str) -> list[str]:
    """The paths a `GetParametersByPath` could return `name` from: `/a/b/c` gives `/`, `/a`, `/a/b`."""
    parts = name.split("/")[1:-1]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _path(path: str) -> str:
    """A by-path call's path as `_ancestors` spells it: `/a/b/` and `/a/b` are the same path."""
    return path.rstrip("/") or "/"


def _windows(moment: float, size: float) -> Iterator[tuple[int, float]]:
    """The two half-offset tumbling windows holding `moment`: (grid, window start)."""
    for grid in (0, 1):
        offset = grid * size / 2
        yield grid, math.floor((moment - offset) / size) * size + offset


@dataclass
class Detector:
    """Judges records one at a time against an allowlist, remembering what it has seen in `state`."""

    allowlist: Allowlist
    state: State
    tuning: Tuning = field(default_factory=Tuning)
    report_first_seen: bool = True
    own: Own = NOBODY

    def process(self, record: Any, now: float) -> Outcome:
        """All verdicts for one record. A repeated eventID gives none; a busy one raises."""
        return self.process_judged(prejudge(record, self.allowlist, self.own), now)

    def process_judged(self, judged: Judged | None, now: float) -> Outcome:
        """The stateful part of `process`, for a record `prejudge` already handled.

        Every state operation of judging is idempotent for the event, so only an event with
        verdicts needs a delivery record: a read that is fine costs no write for deduplication.
        """
        if judged is None:
            return Outcome([])
        if judged.invalid is not None:
            return Outcome([Verdict(judged.invalid, paged=True)])
        if judged.heartbeat is not None:
            return Outcome([], heartbeat=judged.heartbeat)
        if judged.change is not None:
            verdicts = [self._tamper(judged.primary, judged.change)]
            event_id = judged.primary.event_id
        else:
            verdicts = self._judge(judged.access, judged.primary)
            event_id = judged.access.event_id
        if not verdicts:
            return Outcome([])
        delivery = self.state.begin(event_id, now, now + self.tuning.dedup_hours * 3600)
        if delivery is Delivery.DONE:
            return Outcome([])
        if delivery is Delivery.BUSY:
            raise EventInProgress(f"event {event_id} is being processed by another invocation")
        self._hold_back(verdicts)
        return Outcome(verdicts, begun=event_id, change=judged.change)

    def finish(self, event_id: str) -> None:
        """Call once the verdicts were acted on (alerts sent)."""
        self.state.finish(event_id)

    def abandon(self, event_id: str) -> None:
        """Call when acting on the verdicts failed, before re-raising."""
        self.state.abandon(event_id)

    def _judge(self, access: Access, primary: Finding | None) -> list[Verdict]:
        side = "KMS" if access.is_kms else "SSM"
        name = self.allowlist.account_name(access.account)

        def named(candidate: _Candidate) -> _Candidate:
            return replace(candidate, finding=replace(candidate.finding, account_name=name)) if name else candidate

        verdicts = []
        if primary is not None and access.is_kms and access.via_ssm and access.event_time and access.principal.arn:
            primary = replace(primary, ssm_caller=self._ssm_caller(access))
        if primary is not None:
            verdicts.append(self._page(side, named(self._primary(access, primary))))
        if access.event_time is None or access.principal.arn is None:
            return verdicts
        candidates = self._bulk(access)
        if verdicts and not verdicts[0].paged and access.is_kms and access.via_ssm:
            # a Decrypt SSM made that joined a page already sent (its by-path call, or the first
            # Decrypt of the same call): the sweep is that incident, and it has paged
            candidates = [replace(c, folded=f"the sweep is {verdicts[0].reason}") for c in candidates]
        candidates += self._denied_burst(access)
        if primary is None:
            candidates += self._first_seen(access)
        # a finding about many reads (bulk, denied burst, first-seen) has no other side to pair
        # with: its claims carry its kind, so two of them are never "the two sides of one read"
        return verdicts + [self._page(c.kind, named(c)) for c in candidates]

    def _tamper(self, finding: Finding, change: Change) -> Verdict:
        """A blinding change pages once per (principal, resource) and window; a deploy never pages."""
        name = self.allowlist.account_name(finding.account)
        finding = replace(finding, account_name=name) if name else finding
        if change.by_deploy:
            return Verdict(finding, paged=False, reason="CloudFormation deploying paramwatch's own stack")
        moment = parse_time(finding.event_time or "")
        units = tuple(f"{finding.event_name}:{target}" for target in finding.parameters)
        candidate = _Candidate(finding, units, moment.timestamp() if moment else 0.0, finding.event_id)
        return self._page("tamper", candidate)

    def pipeline_verdict(self, finding: Finding, now: float, event_id: str) -> Verdict:
        """Page a problem of the pipeline itself (a broken allowlist) once per suppression window."""
        candidate = _Candidate(finding, finding.parameters or ("*",), now, f"{event_id}#pipeline", kind="pipeline")
        verdict = self._page("pipeline", candidate)
        self._hold_back([verdict])
        return verdict

    def _hold_back(self, verdicts: list[Verdict]) -> None:
        """Count repeats that did not page, once the event is known not to be a redelivery."""
        for verdict in verdicts:
            for key, expires in verdict.holds:
                self.state.increment(key, expires)

    # -- candidates ---------------------------------------------------------------------------

    def _primary(self, access: Access, finding: Finding) -> _Candidate:
        notes: tuple[str, ...] = ()
        if access.is_kms and access.via_ssm:
            notes = ("The KMS Decrypt SSM made confirms the parameter is a SecureString.",)
        # refused reads page once per principal and window: a burst of them is one incident
        units = ("*",) if finding.rule is Rule.DENIED else finding.parameters or ("*",)
        moment = access.event_time.timestamp() if access.event_time else 0.0
        return _Candidate(finding, units, moment, access.event_id, notes, access)

    def _successful_read(self, access: Access) -> bool:
        """A read that exposed plaintext of named parameters (AWS public parameters are no secret)."""
        if not access.decrypted or access.error_code or not access.parameters:
            return False
        return self.allowlist.judge_public_parameters or not reads_only_public(access)

    def _window_finding(
        self,
        access: Access,
        rule: Rule,
        severity: Severity,
        members: list[str],
        minutes: int,
        threshold: int,
        inclusive: bool,
        what: str,
        scope: str = "",
        cap: int = 0,
        details: bool = False,
    ) -> list[_Candidate]:
        """At most one finding when this event takes a window over its threshold.

        Each window's set stops growing one past the threshold: that is all the decision needs,
        and it keeps a burst of any size (20,000 refused calls) to one small item. A `scope` (a
        grant with its own threshold) counts in windows of its own. With `details`, a window also
        keeps its first parameter names and its first SSM caller, for the alert.
        """
        size = minutes * 60
        moment = access.event_time.timestamp()
        crossed: dict[float, tuple[str, int]] = {}
        for grid, start in _windows(moment, size):
            key = f"{rule}#{access.who}{scope}#{grid}#{int(start)}"
            expires = start + 3 * size
            count = self.state.add_members(key, members, expires, cap=max(cap, threshold + 1))
            if details:
                self._remember_details(key, access, count, len(members), expires)
            if count < threshold or (count == threshold and not inclusive):
                continue
            if self.state.claim(f"{key}#raised", Claim(access.event_id), expires).owner == access.event_id:
                crossed[start] = (key, count)
        if not crossed:
            return []
        windows = " and ".join(f"(window from {_iso(start)})" for start in sorted(crossed))
        key, count = crossed[min(crossed)]
        counted = f" ({count} distinct so far)" if details else ""
        summary = (
            f"[{rule}] {safe(access.principal.type)} {safe(access.principal.arn)} {what}{counted} within "
            f"{minutes} minutes {windows}."
        )
        finding = finding_for(access, rule, severity, summary)
        if details:
            names = tuple(sorted(self.state.members(f"{key}#names"), key=natural)) or access.parameters
            caller = self._caller(f"{key}#caller") if access.is_kms else None
            finding = replace(finding, parameters=names, parameter_count=count, ssm_caller=caller)
        return [_Candidate(finding, ("*",), moment, f"{access.event_id}#{rule}", kind=str(rule))]

    def _remember_details(self, key: str, access: Access, count: int, added: int, expires: float) -> None:
        """Keep a window's first names (while it holds few) and its first SSM-side caller.

        Both sets are capped, and a warm container skips a full one, so a sweep of any size
        costs a handful of writes.
        """
        if count <= SHOWN_NAMES + added:
            self.state.add_members(f"{key}#names", access.parameters[:SHOWN_NAMES], expires, cap=SHOWN_NAMES)
        if not access.is_kms and access.source_ip:
            caller = {"event_id": access.event_id, "source_ip": access.source_ip, "user_agent": access.user_agent}
            if access.vpc_endpoint:
                caller["vpc_endpoint"] = access.vpc_endpoint
            self.state.add_members(f"{key}#caller", [json.dumps(caller, sort_keys=True)], expires, cap=1)

    def _caller(self, key: str) -> Caller | None:
        """The SSM-side caller a window remembered, if an SSM call of the burst was seen."""
        for member in self.state.members(key):
            data = json.loads(member)
            return Caller(data["event_id"], data.get("source_ip"), data.get("user_agent"), data.get("vpc_endpoint"))
        return None

    def _ssm_caller(self, access: Access) -> Caller | None:
        """For a Decrypt SSM made: the SSM-side caller of the same principal in its bulk window."""
        size = self.tuning.bulk_window_minutes * 60
        for grid, start in _windows(access.event_time.timestamp(), size):
            caller = self._caller(f"{Rule.BULK}#{access.principal.arn}#{grid}#{int(start)}#caller")
            if caller is not None:
                return caller
        return None

    def _bulk(self, access: Access) -> list[_Candidate]:
        if not self._successful_read(access):
            return []
        threshold, minutes, scope, whose = self.tuning.bulk_threshold, self.tuning.bulk_window_minutes, "", ""
        grant = self._bulk_grant(access)
        if grant is not None and grant.bulk_threshold is not None:
            threshold, minutes = grant.bulk_threshold, grant.bulk_window_minutes or minutes
            scope, whose = f"#grant:{grant.name}", f" under grant '{safe(grant.name, 128)}'"
        members = [_digest(f"{access.scope}{p}") for p in access.parameters]
        what = f"decrypted more than {threshold} distinct parameters{whose}"
        return self._window_finding(
            access, Rule.BULK, Severity.HIGH, members, minutes, threshold, False, what, scope, BULK_PEAK_CAP, True
        )

    def _bulk_grant(self, access: Access) -> Grant | None:
        """The strictest of the grants that allow this read (one without its own threshold has the
        global one), so a generous grant never lends its threshold to a read another grant also
        allows: the Decrypt SSM makes carries no network, so a network-restricted grant allows it
        whatever network the read came from. Looked up only when some grant has a threshold."""
        if not self.allowlist.has_bulk_thresholds:
            return None
        grants = granting(access, self.allowlist)
        return min(grants, key=lambda g: g.bulk_threshold or self.tuning.bulk_threshold, default=None)

    def _denied_burst(self, access: Access) -> list[_Candidate]:
        if access.error_code not in ENUMERATION_CODES:
            return []
        t = self.tuning
        what = f"had {t.denied_threshold} or more refused parameter reads"
        return self._window_finding(
            access,
            Rule.DENIED_BURST,
            Severity.MEDIUM,
            [_digest(access.event_id)],
            t.denied_window_minutes,
            t.denied_threshold,
            True,
            what,
        )

    def _first_seen(self, access: Access) -> list[_Candidate]:
        """New (principal, parameter) pairs: one low page per principal and suppression window,
        raised to high once the day's new pairs are many next to what the principal ever read."""
        if not self._successful_read(access):
            return []
        moment = access.event_time.timestamp()
        principal = access.who
        expires = moment + self.tuning.baseline_days * DAY
        new = []
        mine = Claim(access.event_id, {"time": access.event_time.isoformat()})
        for name in access.parameters:
            holder = self.state.claim(f"{PAIR_PREFIX}{principal}#{access.scope}#{name}", mine, expires)
            if holder.owner == access.event_id:
                new.append(name)
        learning = self._learning(moment)
        if not new:
            return []
        scoped = [f"{access.scope}{n}" for n in new]
        known = remember_pairs(self.state, principal, scoped, expires)
        if learning or not self.report_first_seen:
            return []
        t = self.tuning
        day = int(moment // DAY)
        digests = [_digest(p) for p in scoped]
        # room past the largest limit for every new pair of this read, so the count that crosses it
        # (the one the high alert states) is exact
        cap = t.storm_pairs + math.ceil(t.storm_ratio * KNOWN_CAP) + len(digests)
        today = self.state.add_members(f"new#{principal}#{day}", digests, (day + 2) * DAY, cap=cap)
        limit = max(t.storm_pairs, math.ceil(t.storm_ratio * max(known - today, 0)))
        storm_key = f"storm#{principal}#{day}"
        summary = (
            f"[{Rule.FIRST_SEEN}] {safe(access.principal.type)} {safe(access.principal.arn)} read "
            f"{len(new)} parameter(s) it had never read before."
        )
        if today > limit and self.state.claim(storm_key, Claim(access.event_id), (day + 2) * DAY).owner == (
            access.event_id
        ):
            summary += (
                f" It read {today} new parameter(s) today (UTC) against {max(known - today, 0)} known before: "
                "a slow sweep."
            )
            finding = replace(finding_for(access, Rule.FIRST_SEEN, Severity.HIGH, summary), parameters=tuple(new))
            return [_Candidate(finding, (f"storm#{day}",), moment, f"{access.event_id}#storm", kind="storm")]
        finding = replace(finding_for(access, Rule.FIRST_SEEN, Severity.LOW, summary), parameters=tuple(new))
        storm = self.state.peek(storm_key)
        folded = None if storm is None else f"part of the first-seen storm paged for event {safe(storm.owner, 64)}"
        return [_Candidate(finding, ("*",), moment, f"{access.event_id}#first-seen", kind="first-seen", folded=folded)]

    def _learning(self, moment: float) -> bool:
        """True while pairs are recorded silently: within `learning_days` of the earliest event.

        The start is the earliest event time seen, not the first event processed, so the order in
        which records or folders arrive does not move it.
        """
        if self.tuning.learning_days == 0:
            return False
        start = self.state.minimum("baseline#start", moment)
        return moment < start + self.tuning.learning_days * DAY

    # -- paging -------------------------------------------------------------------------------

    def _page(self, side: str, candidate: _Candidate) -> Verdict:
        """Page unless the same unit paged within the suppression window, or this is part of an
        incident that already paged (the other side of the read, its by-path call, its sweep)."""
        verdict = self._decide(side, candidate)
        part = _part(candidate)
        return replace(verdict, part=part) if part else verdict

    def _decide(self, side: str, candidate: _Candidate) -> Verdict:
        f, moment = candidate.finding, candidate.incident_time
        size = self.tuning.suppression_minutes * 60
        bucket = math.floor(moment / size)
        access = candidate.access
        ssm_made = access is not None and access.is_kms and access.via_ssm
        fold = self._fold(candidate, bucket, size)
        if fold is not None and (ssm_made or candidate.kind == "first-seen"):
            return Verdict(f, paged=False, reason=fold, notes=candidate.notes)
        if ssm_made:
            near = self._near_holder(candidate, bucket, size)
            if near is not None:
                return Verdict(f, paged=False, reason=self._repeat_reason(side, near, moment), notes=candidate.notes)
        units = (SSM_MADE_UNIT,) if ssm_made else candidate.units
        # a Decrypt SSM made pages for its principal's SSM-made Decrypts; the repeats of its read
        # were counted under its parameters (by their SSM calls), and its page reports those too
        also = candidate.units if ssm_made else ()
        verdict = self._claim_units(side, candidate, units, bucket, size, fold, also)
        if ssm_made and verdict.paged:
            me = Claim(candidate.owner, {"side": side, "time": str(moment), "paged": "1"})
            for unit in candidate.units:
                self.state.claim(f"page#{f.rule}#{paging(f)}#{unit}#{bucket}", me, (bucket + 3) * size)
        if access is not None and candidate.kind == "read" and self._worth_indexing(candidate, verdict):
            self._index(candidate, bucket, size, verdict.paged)
        if verdict.units:
            verdict = replace(verdict, units=candidate.units if ssm_made else verdict.units)
        return verdict

    def _claim_units(
        self,
        side: str,
        candidate: _Candidate,
        units: tuple[str, ...],
        bucket: int,
        size: float,
        fold: str | None,
        also: tuple[str, ...] = (),
    ) -> Verdict:
        """Page for the units no page holds; otherwise a repeat, counted for the unit's next page
        unless it is the other side of the read that paged (a read is counted once, not per side).
        A page reports the repeats held back in the previous window of its units and of `also`."""
        f, moment = candidate.finding, candidate.incident_time
        expires = (bucket + 3) * size
        fresh_units, others = [], []
        for unit in units:
            base = f"page#{f.rule}#{paging(f)}#{unit}"
            paged, blocker = self._claim_unit(base, bucket, size, side, candidate, fold)
            if paged:
                fresh_units.append((unit, base))
            else:
                others.append((base, blocker))
        if fresh_units:
            bases = [base for _, base in fresh_units] + [f"page#{f.rule}#{paging(f)}#{unit}" for unit in also]
            held = sum(self.state.count(f"held#{base}#{bucket - 1}") for base in bases)
            notes = candidate.notes
            if held:
                notes += (f"{held} similar finding(s) were held back in the previous window.",)
            return Verdict(f, paged=True, held_back=held, notes=notes, units=tuple(u for u, _ in fresh_units))
        if fold is not None:
            return Verdict(f, paged=False, reason=fold, notes=candidate.notes)
        holders = [h for _, h in others if h is not None]
        reason = self._repeat_reason(side, holders[0], moment) if holders else "repeat of an earlier alert"
        return Verdict(
            f,
            paged=False,
            reason=reason,
            notes=candidate.notes,
            holds=tuple(
                (f"held#{base}#{bucket}", expires + size)
                for base, blocker in others
                if blocker is None or not _paired(side, blocker, moment)
            ),
        )

    def _claim_unit(
        self, base: str, bucket: int, size: float, side: str, candidate: _Candidate, fold: str | None
    ) -> tuple[bool, Claim | None]:
        """Claim the unit's place in its window: (True, None) when this finding pages for it,
        else (False, the page it repeats).

        A window has two places. The first finding of a window takes the first; it pages unless a
        neighbouring window paged less than a window ago, and then it records that page as its
        anchor. A later finding a whole window or more after that anchor takes the second place and
        pages, so that a unit read without pause pages once every `suppression_minutes`. A finding
        that finds both places taken by findings that did not page, and is a whole window or more
        from both their anchors (reads delivered more than a window out of order), pages: it is far
        from every page known, and a second alert is better than a missed one.
        """
        moment = candidate.incident_time
        near = None if fold else self._paged_neighbour(base, bucket, moment, size)
        paged = fold is None and near is None
        anchor = near or Claim(candidate.owner, {"time": str(moment)})
        note = {
            "side": side,
            "time": str(moment),
            "paged": "1" if paged else "0",
            "anchor": anchor.note.get("time", str(moment)),
            "anchor_event": anchor.owner,
        }
        holder = None
        for slot in (f"{base}#{bucket}", f"{base}#{bucket}#late"):
            holder = self.state.claim(slot, Claim(candidate.owner, note), (bucket + 3) * size)
            if holder.owner == candidate.owner:
                return holder.note.get("paged") == "1", near
            if holder.note.get("paged") == "1" or fold is not None:
                return False, holder
            first = Claim(holder.note.get("anchor_event", holder.owner), {"time": holder.note.get("anchor", "nan")})
            if _within(first, moment, size):
                return False, first
        return True, None

    def _paged_neighbour(self, base: str, bucket: int, moment: float, size: float) -> Claim | None:
        """A page of the same unit in a neighbouring window less than one window away, if any.

        Windows only place claims; this makes "a repeat within N minutes" mean N minutes, even when
        the two events fall on either side of a window's edge.
        """
        for other in (bucket - 1, bucket + 1):
            for slot in (f"{base}#{other}", f"{base}#{other}#late"):
                holder = self.state.peek(slot)
                if holder is not None and holder.note.get("paged") == "1" and _within(holder, moment, size):
                    return holder
        return None

    def _near_holder(self, candidate: _Candidate, bucket: int, size: float) -> Claim | None:
        """For an SSM-made Decrypt: the SSM side (or an earlier page) of the same parameter nearby."""
        f, moment = candidate.finding, candidate.incident_time
        for unit in candidate.units:
            for slot in (f"{b}{late}" for b in (bucket, bucket - 1, bucket + 1) for late in ("", "#late")):
                holder = self.state.peek(f"page#{f.rule}#{paging(f)}#{unit}#{slot}")
                relevant = holder is not None and _within(holder, moment, size)
                if relevant and (holder.note.get("paged") == "1" or holder.note.get("side") == "SSM"):
                    return holder
        return None

    def _repeat_reason(self, side: str, holder: Claim, moment: float) -> str:
        event = safe(holder.owner.split("#", 1)[0], 64)
        if _paired(side, holder, moment):
            return f"paired with event {event}, the {holder.note['side']} side of the same read"
        return f"repeat within {self.tuning.suppression_minutes} minutes of the alert for event {event}"

    # -- incidents across units ---------------------------------------------------------------

    def _index_keys(self, principal: str | None, bucket: int) -> list[str]:
        return [f"recent#{principal}#{b}" for b in (bucket - 1, bucket, bucket + 1)]

    def _entries(self, principal: str | None, bucket: int, moment: float, size: float) -> list[_Entry]:
        out = []
        for key in self._index_keys(principal, bucket):
            for text in self.state.members(key):
                entry = _Entry.decode(text)
                if entry is not None and abs(entry.time - moment) < size:
                    out.append(entry)
        return sorted(out, key=lambda e: (e.time, e.event))

    def _worth_indexing(self, candidate: _Candidate, verdict: Verdict) -> bool:
        """By-path calls (their Decrypts look for them), and SSM-made Decrypts that paged (a by-path
        call delivered after its Decrypts looks for them)."""
        access = candidate.access
        if access.path is not None and not access.is_kms:
            return True
        return verdict.paged and access.is_kms and access.via_ssm

    def _index(self, candidate: _Candidate, bucket: int, size: float, paged: bool) -> None:
        """Note a read incident, so that the other parts of the same incident can find it.

        By-path calls are found by the Decrypts SSM makes for them (any parameter under the path),
        SSM-made Decrypts that paged by the by-path call that caused them, and both by a bulk
        finding of the same principal. The index holds digests only and is capped.
        """
        access = candidate.access
        if access.is_kms:
            kind = "kms"
            digests = tuple(_digest(a) for n in access.names[:1] for a in _ancestors(n))
        else:
            kind, digests = "path", (_digest(_path(access.path)),)
        entry = _Entry(
            kind,
            str(candidate.finding.rule),
            paged,
            candidate.incident_time,
            access.recursive,
            digests,
            safe(access.event_id, 64).replace("|", "/"),
        )
        key = f"recent#{paging(candidate.finding)}#{bucket}"
        self.state.add_members(key, [entry.encode()], (bucket + 3) * size, cap=INDEX_CAP)

    def _fold(self, candidate: _Candidate, bucket: int, size: float) -> str | None:
        """Why this candidate belongs to an incident that already paged, or None."""
        access, f = candidate.access, candidate.finding
        if candidate.folded is not None:
            return candidate.folded
        if candidate.kind != "read" or access is None:
            return None
        rule = str(f.rule)
        if access.is_kms and access.via_ssm and access.names:
            ancestors = _ancestors(access.names[0])
            wanted = {_digest(a) for a in ancestors}
            parent = _digest(ancestors[-1])
            calls = [
                entry
                for entry in self._entries(paging(f), bucket, candidate.incident_time, size)
                if entry.kind == "path"
                and entry.rule == rule
                and entry.digests[0] in wanted
                and (entry.recursive or entry.digests[0] == parent)
            ]
            # its own call (within the pairing tolerance) if known, else another page of the sweep:
            # the page that made this Decrypt may be delivered after it
            calls.sort(key=lambda e: abs(e.time - candidate.incident_time))
            if calls:
                call = calls[0]
                part = BY_PATH_PART if abs(call.time - candidate.incident_time) <= PAIR_SECONDS else SWEEP_PART
                return f"{part} {call.event}, which pages for its path"
        if access.path is not None and not access.is_kms:
            path = _digest(_path(access.path))
            for entry in self._entries(paging(f), bucket, candidate.incident_time, size):
                if entry.kind != "kms" or entry.rule != rule or not entry.paged:
                    continue
                under = entry.digests[-1] == path if not access.recursive else path in entry.digests
                if under:
                    return f"paired with event {entry.event}, an SSM-made Decrypt of a parameter under this path"
        return None


def _part(candidate: _Candidate) -> str | None:
    """Which part of a read incident that gathers members a candidate is, if any: a by-path call or
    a Decrypt SSM made, that succeeded, with decryption, and is not critical (decoys page at once)."""
    access = candidate.access
    if candidate.kind != "read" or access is None or access.error_code or not access.decrypted:
        return None
    if candidate.finding.severity >= Severity.CRITICAL:
        return None
    if access.is_kms:
        return "kms" if access.via_ssm and access.names else None
    return "path" if access.path is not None else None


def paging(finding: Finding) -> str:
    """Whom a finding pages about, per account and region: the same role name in another account
    is another principal, the same parameter name in another region another secret, and a service
    (`ssm.amazonaws.com`) acts for each account separately."""
    who = finding.principal
    if who is not None and not who.startswith("arn:"):
        who = f"{finding.account or ''}:{who}"
    return f"{who}@{finding.region or ''}"


def _within(holder: Claim, moment: float, seconds: float) -> bool:
    try:
        return abs(float(holder.note.get("time", "nan")) - moment) < seconds
    except ValueError:
        return False


def natural(name: str) -> list[Any]:
    """Sort key that puts credentials-2 before credentials-10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _paired(side: str, holder: Claim, moment: float) -> bool:
    """The holder is the other side of the same read: the SSM call and the Decrypt SSM made for
    it, within the pairing tolerance. (Only reads have two sides; every other rule's claims carry
    one side string, the asker's own.)"""
    return holder.note.get("side") not in (None, side) and _close(holder, moment)


def _close(holder: Claim, moment: float) -> bool:
    """Within the pairing tolerance: the two sides of one read."""
    try:
        return abs(float(holder.note.get("time", "nan")) - moment) <= PAIR_SECONDS
    except ValueError:
        return False


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
