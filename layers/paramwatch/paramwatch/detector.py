"""Detections that remember: duplicates, SSM+KMS pairs, suppression, bulk reads, first-seen
access and denied bursts, on top of the stateless rules.

Windows are aligned to event time, never to arrival time, so the alerts do not depend on the order
in which EventBridge delivers events: the set of (rule, principal, parameter, window) units that
page is the same for any order. Sliding windows are approximated by two tumbling grids offset by
half a window, so any burst no longer than half a window falls wholly inside one window. A burst
caught by both grids pages once: both findings are placed in the suppression window by their
window's end, which differ by half a window (so they split only when a suppression boundary falls
between them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paramwatch.access import Access, is_relevant, to_access
from paramwatch.allowlist import Allowlist, Grant
from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.matching import granted_by
from paramwatch.rules import DENIAL_CODES, evaluate, finding_for, parse_record
from paramwatch.state import Claim, Delivery, State

PAIR_SECONDS = 5
PAIR_PREFIX = "pair#"
DAY = 86400
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


@dataclass(frozen=True, slots=True)
class Judged:
    """A record after the stateless part of judging, which may run in another process."""

    invalid: Finding | None = None
    access: Access | None = None
    primary: Finding | None = None
    grant: str | None = None


def prejudge(record: Any, allowlist: Allowlist, track_grants: bool = False) -> Judged | None:
    """Validate, normalize and apply the stateless rules; None for a record that is no read.

    With `track_grants`, an allowed read also names the grant that allowed it (replay uses it to
    report stale grants; Lambda does not pay for it).
    """
    parsed = parse_record(record)
    if isinstance(parsed, Finding):
        return Judged(invalid=parsed)
    if not is_relevant(record):
        return None
    access = to_access(parsed)
    primary = evaluate(access, allowlist)
    grant = granted_by(access, allowlist)[0] if track_grants and primary is None and access.decrypted else None
    return Judged(access=access, primary=primary, grant=grant.name if grant else None)


def judge(record: Any, allowlist: Allowlist) -> Finding | None:
    """The stateless verdict on one raw record: an invalid-event finding, a rule's finding, or None."""
    judged = prejudge(record, allowlist)
    return None if judged is None else judged.invalid or judged.primary


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdicts on one record, and the event whose work must then be finished or abandoned."""

    verdicts: list[Verdict]
    begun: str | None = None


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

    def to_dict(self) -> dict[str, Any]:
        """The finding's fields plus `paged`, `reason`, `held_back` and `notes`."""
        data = self.finding.to_dict()
        data.update(paged=self.paged, reason=self.reason, held_back=self.held_back, notes=list(self.notes))
        data["paged_for"] = list(self.units)
        return data


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A finding before paging: the units it pages for, and the time that places it in a window.

    `owner` names the candidate in claims; an event can raise two bulk findings (one per grid),
    and each must claim on its own. `who` and `scope` keep paging per account: the same role name
    or parameter name in another account is another principal or secret.
    """

    finding: Finding
    units: tuple[str, ...]
    incident_time: float
    owner: str
    notes: tuple[str, ...] = ()
    who: str | None = None
    scope: str = ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


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

    def process(self, record: Any, now: float) -> Outcome:
        """All verdicts for one record. A repeated eventID gives none; a busy one raises."""
        return self.process_judged(prejudge(record, self.allowlist), now)

    def process_judged(self, judged: Judged | None, now: float) -> Outcome:
        """The stateful part of `process`, for a record `prejudge` already handled.

        Every state operation of judging is idempotent for the event, so only an event with
        verdicts needs a delivery record: a read that is fine costs no write for deduplication.
        """
        if judged is None:
            return Outcome([])
        if judged.invalid is not None:
            return Outcome([Verdict(judged.invalid, paged=True)])
        verdicts = self._judge(judged.access, judged.primary)
        if not verdicts:
            return Outcome([])
        event_id = judged.access.event_id
        delivery = self.state.begin(event_id, now, now + self.tuning.dedup_hours * 3600)
        if delivery is Delivery.DONE:
            return Outcome([])
        if delivery is Delivery.BUSY:
            raise EventInProgress(f"event {event_id} is being processed by another invocation")
        self._hold_back(verdicts)
        return Outcome(verdicts, begun=event_id)

    def finish(self, event_id: str) -> None:
        """Call once the verdicts were acted on (alerts sent)."""
        self.state.finish(event_id)

    def abandon(self, event_id: str) -> None:
        """Call when acting on the verdicts failed, before re-raising."""
        self.state.abandon(event_id)

    def _judge(self, access: Access, primary: Finding | None) -> list[Verdict]:
        candidates: list[_Candidate] = []
        if primary is not None:
            candidates.append(self._primary(access, primary))
        if access.event_time is not None and access.principal.arn is not None:
            candidates += self._bulk(access)
            candidates += self._denied_burst(access)
            if primary is None:
                candidates += self._first_seen(access)
        side = "KMS" if access.is_kms else "SSM"
        name = self.allowlist.account_name(access.account)
        if name:
            candidates = [replace(c, finding=replace(c.finding, account_name=name)) for c in candidates]
        return [self._page(side, c) for c in candidates]

    def pipeline_verdict(self, finding: Finding, now: float, event_id: str) -> Verdict:
        """Page a problem of the pipeline itself (a broken allowlist) once per suppression window."""
        verdict = self._page("pipeline", _Candidate(finding, finding.parameters or ("*",), now, f"{event_id}#pipeline"))
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
        units = finding.parameters or ("*",)
        moment = access.event_time.timestamp() if access.event_time else 0.0
        return _Candidate(finding, units, moment, access.event_id, notes, who=access.who, scope=access.scope)

    def _successful_read(self, access: Access) -> bool:
        return access.decrypted and not access.error_code and bool(access.parameters)

    def _window_findings(
        self,
        access: Access,
        rule: Rule,
        severity: Severity,
        members: list[str],
        minutes: int,
        over: Callable[[int], bool],
        what: str,
        scope: str = "",
    ) -> list[_Candidate]:
        """One finding for each window this event takes over its threshold; a window raises once.

        A `scope` (a grant with its own threshold) counts in windows of its own.
        """
        size = minutes * 60
        out = []
        for grid, start in _windows(access.event_time.timestamp(), size):
            key = f"{rule}#{access.who}{scope}#{grid}#{int(start)}"
            expires = start + 3 * size
            if not over(self.state.add_members(key, members, expires)):
                continue
            if self.state.claim(f"{key}#raised", Claim(access.event_id), expires).owner != access.event_id:
                continue
            summary = (
                f"[{rule}] {safe(access.principal.type)} {safe(access.principal.arn)} {what} within "
                f"{minutes} minutes (window from {_iso(start)})."
            )
            finding = finding_for(access, rule, severity, summary)
            out.append(_Candidate(finding, ("*",), start + size, f"{access.event_id}#{rule}{grid}", who=access.who))
        return out

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
        return self._window_findings(
            access, Rule.BULK, Severity.HIGH, members, minutes, lambda n: n > threshold, what, scope
        )

    def _bulk_grant(self, access: Access) -> Grant | None:
        """The grant that allows this read, when the allowlist has any grant with its own threshold
        (otherwise no grant is looked up: most allowlists pay nothing for the option)."""
        if not self.allowlist.has_bulk_thresholds:
            return None
        return granted_by(access, self.allowlist)[0]

    def _denied_burst(self, access: Access) -> list[_Candidate]:
        if access.error_code not in ENUMERATION_CODES:
            return []
        t = self.tuning
        what = f"had {t.denied_threshold} or more refused parameter reads"
        return self._window_findings(
            access,
            Rule.DENIED_BURST,
            Severity.MEDIUM,
            [access.event_id],
            t.denied_window_minutes,
            lambda n: n >= t.denied_threshold,
            what,
        )

    def _first_seen(self, access: Access) -> list[_Candidate]:
        if not self._successful_read(access):
            return []
        moment = access.event_time.timestamp()
        learning = self._learning(moment)
        expires = moment + self.tuning.baseline_days * DAY
        new = []
        mine = Claim(access.event_id, {"time": access.event_time.isoformat()})
        for name in access.parameters:
            holder = self.state.claim(f"{PAIR_PREFIX}{access.who}#{access.scope}#{name}", mine, expires)
            if holder.owner == access.event_id:
                new.append(name)
        if not new or learning or not self.report_first_seen:
            return []
        summary = (
            f"[{Rule.FIRST_SEEN}] {safe(access.principal.type)} {safe(access.principal.arn)} read "
            f"{len(new)} parameter(s) it had never read before."
        )
        finding = replace(finding_for(access, Rule.FIRST_SEEN, Severity.LOW, summary), parameters=tuple(new))
        owner = f"{access.event_id}#first-seen"
        return [_Candidate(finding, tuple(new), moment, owner, who=access.who, scope=access.scope)]

    def _learning(self, moment: float) -> bool:
        """True while pairs are recorded silently: within `learning_days` of the first event seen."""
        if self.tuning.learning_days == 0:
            return False
        start = float(self.state.claim("baseline#start", Claim(str(int(moment))), math.inf).owner)
        return moment < start + self.tuning.learning_days * DAY

    # -- paging -------------------------------------------------------------------------------

    def _page(self, side: str, candidate: _Candidate) -> Verdict:
        f = candidate.finding
        size = self.tuning.suppression_minutes * 60
        bucket = math.floor(candidate.incident_time / size)
        me = Claim(candidate.owner, {"side": side, "time": str(candidate.incident_time)})
        expires = (bucket + 3) * size
        owned, holders = [], []
        for unit in candidate.units:
            base = f"page#{f.rule}#{candidate.who or f.principal}#{candidate.scope}{unit}"
            holder = self.state.claim(f"{base}#{bucket}", me, expires)
            if holder.owner == candidate.owner:
                owned.append((unit, base))
            else:
                holders.append((base, holder))
        if owned:
            held = sum(self.state.count(f"held#{base}#{bucket - 1}") for _, base in owned)
            notes = candidate.notes
            if held:
                notes += (f"{held} similar finding(s) were held back in the previous window.",)
            return Verdict(f, paged=True, held_back=held, notes=notes, units=tuple(u for u, _ in owned))
        for _, holder in holders:
            if holder.note.get("side") not in (None, side) and _near(holder, candidate.incident_time):
                return Verdict(
                    f,
                    paged=False,
                    reason=f"paired with event {holder.owner}, the {holder.note['side']} side of the same read",
                    notes=candidate.notes,
                )
        first = holders[0][1].owner.split("#", 1)[0]
        minutes = self.tuning.suppression_minutes
        return Verdict(
            f,
            paged=False,
            reason=f"repeat within the {minutes}-minute window of the alert for event {first}",
            notes=candidate.notes,
            holds=tuple((f"held#{base}#{bucket}", expires + size) for base, _ in holders),
        )


def _near(holder: Claim, moment: float) -> bool:
    try:
        return abs(float(holder.note.get("time", "nan")) - moment) <= PAIR_SECONDS
    except ValueError:
        return False


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
