"""Settings: every knob is an environment variable (Functions app settings), read once, lazily.

Names and meanings are listed in the README; infra/ writes exactly these (a test compares them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from aibtrigger.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIBTRIGGER_", extra="ignore", frozen=True)

    catalog_path: Path = Field(description="The catalog file (YAML or JSON) of templates the service may build.")
    backend: Literal["local", "aib"] = Field("local", description="Build backend: 'local' (full local build) or 'aib'.")
    storage_connection: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AzureWebJobsStorage", "AIBTRIGGER_STORAGE_CONNECTION"),
        description="Storage connection string (Azurite, or keys). Unset in Azure: identity is used.",
    )
    storage_account: str | None = Field(
        None,
        validation_alias=AliasChoices("AzureWebJobsStorage__accountName", "AIBTRIGGER_STORAGE_ACCOUNT"),
        description="Storage account name for identity-based access (DefaultAzureCredential).",
    )
    publisher: Literal["queue", "eventgrid"] = Field("queue", description="Where results are published.")
    eventgrid_endpoint: str | None = Field(None, description="Event Grid topic endpoint (publisher=eventgrid).")
    eventgrid_key: SecretStr | None = Field(None, description="Event Grid topic key; unset: managed identity.")
    local_workdir: Path = Field(Path(".aibtrigger"), description="Local backend: build workspaces and builder logs.")
    local_seconds_per_minute: float = Field(
        60.0, gt=0, description="Local backend: how long a 'minute' of buildTimeoutInMinutes lasts (tests shrink it)."
    )
    local_event_webhook: str | None = Field(
        None, description="Local backend: where the local gallery posts its Event Grid events (the dev host's webhook)."
    )
    subscription_id: str | None = Field(
        None,
        description="aib backend: subscription whose marketplace versions are polled "
        "(templates carry theirs in resource_id).",
    )
    arm_endpoint: str | None = Field(
        None, description="aib backend: Azure Resource Manager endpoint; unset: public cloud."
    )
    arm_retry_total: int = Field(
        5, ge=0, le=10, description="aib backend: retries of a throttled or failed ARM read (Retry-After honoured)."
    )
    poll_min_seconds: float = Field(30.0, gt=0, description="Shortest delay between two status reads of a run.")
    poll_max_seconds: float = Field(600.0, gt=0, description="Longest delay between two status reads of a run.")
    sweep_schedule: str = Field(
        "0 */15 * * * *", description="NCRONTAB of the marketplace sweep (new platform image versions)."
    )
    tick_schedule: str = Field(
        "0 * * * * *", description="NCRONTAB of the schedule check: how often templates' own schedules are read."
    )
    prune_schedule: str = Field(
        "0 30 3 * * *",
        description="NCRONTAB of retention (prune): deletes the image versions policy.retention lets go; "
        "templates without that policy are never touched.",
    )
    lease_margin_seconds: float = Field(
        180.0,
        gt=0,
        description="How long past its next expected step a claim's chain is presumed alive; "
        "then the reconciler takes the step itself.",
    )
    timeout_grace_minutes: float = Field(
        15.0, ge=0, description="A run this long past its template's timeout is cancelled and recorded TimedOut."
    )
    distribution_patience_minutes: float = Field(
        180.0,
        gt=0,
        description="A run that failed while distributing waits this long after the failure for the gallery "
        "to finish replicating its image version.",
    )
    distribution_retries: int = Field(
        2, ge=0, description="How often a failed replication of a run's image version is asked again."
    )

    @field_validator("sweep_schedule", "tick_schedule", "prune_schedule")
    @classmethod
    def _ncrontab(cls, value: str) -> str:
        from aibtrigger.domain.schedule import parse_schedule

        return parse_schedule(value).expression

    @model_validator(mode="after")
    def _coherent(self):
        if self.storage_connection is None and self.storage_account is None:
            raise ValueError("set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName")
        if self.backend == "aib" and not self.subscription_id:
            raise ValueError("AIBTRIGGER_SUBSCRIPTION_ID is required when AIBTRIGGER_BACKEND=aib")
        if self.publisher == "eventgrid" and not self.eventgrid_endpoint:
            raise ValueError("AIBTRIGGER_EVENTGRID_ENDPOINT is required when AIBTRIGGER_PUBLISHER=eventgrid")
        if self.poll_max_seconds < self.poll_min_seconds:
            raise ValueError("AIBTRIGGER_POLL_MAX_SECONDS must not be below AIBTRIGGER_POLL_MIN_SECONDS")
        return self


def setting_names() -> list[str]:
    """Every environment variable the service reads (the first name of each, as infra/ writes them)."""
    return [_variable_of(name, field) for name, field in Settings.model_fields.items()]


def load_settings() -> Settings:
    """Read settings from the environment; an error names each variable that is missing or wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = _variable_for(str(error["loc"][0])) if error["loc"] else None
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{variable}: {message}" if variable else message)
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _variable_for(field_name: str) -> str | None:
    field = Settings.model_fields.get(field_name)
    return None if field is None else _variable_of(field_name, field)


def _variable_of(field_name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):  # ours are all names, no paths
        return alias.choices[0]
    return f"AIBTRIGGER_{field_name.upper()}"
