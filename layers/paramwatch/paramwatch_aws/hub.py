"""Filing paged findings in Security Hub (optional), one finding per incident.

The first page of an incident claims its Id in the state table with the time it was filed, so
every later page updates the same Security Hub finding with the original `CreatedAt` and a
`Count` of pages. Each record is checked against the rules Security Hub enforces (and moto does
not) before it is sent: a record Security Hub would refuse is a bug, raised, never silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paramwatch.asff import Incident, incident_id, observed_at, problems, to_asff
from paramwatch.findings import Finding
from paramwatch.state import Claim, State

INCIDENT_DAYS = 90


class HubError(RuntimeError):
    """Security Hub refused a finding, or paramwatch built one it would refuse."""


@dataclass(frozen=True)
class SecurityHubSink:
    """Imports findings under the default product of the account the evaluator runs in."""

    client: Any
    partition: str
    region: str
    account: str

    def record(self, finding: Finding, state: State, now: float) -> dict[str, Any]:
        """The ASFF record for a paged finding, with the incident's first filing remembered."""
        stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        key = incident_id(finding)
        expires = now + INCIDENT_DAYS * 86400
        first = Claim(finding.event_id, {"created": stamp, "first": observed_at(finding, stamp)})
        holder = state.claim(f"hub#{key}", first, expires)
        count = state.increment(f"hubcount#{key}", expires)
        incident = Incident(holder.note.get("created", stamp), holder.note.get("first", stamp), count)
        return to_asff(
            finding, partition=self.partition, region=self.region, filer=self.account, incident=incident, now=stamp
        )

    def file(self, finding: Finding, state: State, now: float) -> None:
        """Import one finding; raise HubError when it is invalid or Security Hub refuses it."""
        record = self.record(finding, state, now)
        wrong = problems(record, self.account)
        if wrong:
            raise HubError(f"refusing to import an invalid ASFF finding: {'; '.join(wrong)}")
        got = self.client.batch_import_findings(Findings=[record])
        if got.get("FailedCount"):
            failed = got.get("FailedFindings") or [{}]
            raise HubError(
                f"Security Hub refused the finding: {failed[0].get('ErrorCode')} {failed[0].get('ErrorMessage')}"
            )
