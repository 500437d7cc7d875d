"""Typed settings for the Lambda handlers, read from the environment and checked once."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paramwatch.detector import Tuning
from paramwatch.own import Own


class SettingsError(ValueError):
    """A missing or malformed setting; the function cannot run safely without it."""


class Settings(BaseModel):
    """What the evaluator needs to know about its stack."""

    model_config = ConfigDict(frozen=True)

    allowlist_parameter: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-/]+$")
    alert_topic_arn: str = Field(pattern=r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[\w\-]+$")
    grants_path: str = Field(default="", pattern=r"^(/[A-Za-z0-9_.\-]+)*$")
    allowlist_cache_seconds: int = Field(default=60, ge=0, le=3600)
    honeytoken_prefix: str = Field(default="", pattern=r"^$|^/[A-Za-z0-9_.\-/]*/$")
    failure_queue_url: str = Field(pattern=r"^https://\S+$")
    state_table: str = Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.\-]+$")
    security_hub: bool = False
    findings_bus: str = Field(default="default", min_length=1, max_length=1600, pattern=r"^[A-Za-z0-9_.\-/:]+$")
    # read incidents that gather members page this long after their first part (0: at once); the
    # delay queue that holds their pages (SQS DelaySeconds: at most 900)
    incident_hold_seconds: int = Field(default=0, ge=0, le=900)
    hold_queue_url: str = Field(default="", pattern=r"^$|^https://\S+$")
    suppression_minutes: int = Tuning.model_fields["suppression_minutes"]
    bulk_threshold: int = Tuning.model_fields["bulk_threshold"]
    bulk_window_minutes: int = Tuning.model_fields["bulk_window_minutes"]
    denied_threshold: int = Tuning.model_fields["denied_threshold"]
    denied_window_minutes: int = Tuning.model_fields["denied_window_minutes"]
    learning_days: int = Tuning.model_fields["learning_days"]
    # paramwatch's own resources (see `own`); absent ones leave their tamper rules idle.
    stack_name: str | None = None
    resources_parameter: str | None = None  # names the stack's rules (see paramwatch_aws.own_store)
    own_functions: str = ""
    aws_lambda_function_name: str | None = None  # set by the Lambda runtime: the evaluator itself
    operations_topic_arn: str | None = None
    pipeline_key_arn: str | None = None
    canary_parameter: str | None = None  # comma-separated names or globs (organization mode: members')
    canary_role_arn: str | None = None
    # organization mode: name accounts from AWS Organizations too (ListAccounts), under the map
    account_names_from_organizations: bool = False
    member_rule_prefix: str = Field(default="", pattern=r"^$|^[A-Za-z0-9_.\-]+-$")  # member.yaml's rule names

    @property
    def own(self) -> Own:
        """The stack's resources by exact name and ARN, and its canary, for tamper and heartbeat."""

        def listed(*values: str | None) -> tuple[str, ...]:
            return tuple(v for value in values if value for v in value.split(",") if v)

        key = self.pipeline_key_arn
        return Own(
            stack=self.stack_name,
            functions=listed(self.own_functions, self.aws_lambda_function_name),
            topics=listed(self.alert_topic_arn, self.operations_topic_arn),
            keys=listed(key, key.rsplit("/", 1)[-1] if key else None),
            allowlists=(self.allowlist_parameter,),
            parameters=listed(self.resources_parameter),
            canary_parameters=listed(self.canary_parameter),
            canary_roles=listed(self.canary_role_arn),
            queues=listed(self.failure_queue_url, self.hold_queue_url),
        )

    @property
    def stack_arn_parts(self) -> tuple[str, str, str]:
        """Partition, region and account of the stack, read from the alert topic's ARN."""
        _, partition, _, region, account, _ = self.alert_topic_arn.split(":", 5)
        return partition, region, account

    @property
    def honeytokens(self) -> tuple[str, ...]:
        """Honeytoken globs the stack sets, which hold whatever the stored allowlist says."""
        return (f"{self.honeytoken_prefix}*",) if self.honeytoken_prefix else ()

    @property
    def tuning(self) -> Tuning:
        """The detections' knobs, taken from the same environment."""
        return Tuning(**{name: getattr(self, name) for name in Tuning.model_fields if name in type(self).model_fields})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build from environment variables named in upper case (`ALLOWLIST_PARAMETER`, ...)."""
        raw = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            fields = ", ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise SettingsError(f"bad function settings: {fields}") from None
