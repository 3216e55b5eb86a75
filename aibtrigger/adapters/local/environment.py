"""How the local builder process is configured: environment variables only.

The connection string is a secret: it travels in the environment, never on the command line
(which `ps` shows to every user). The catalog path is read here too, so the builder loads the
catalog itself and can only ever build one of its definitions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, TypeVar

STORAGE_CONNECTION = "AIBTRIGGER_STORAGE_CONNECTION"
STORAGE_CONNECTION_FALLBACK = "AzureWebJobsStorage"  # the Functions app's own setting
CATALOG_PATH = "AIBTRIGGER_CATALOG_PATH"
WORKDIR = "AIBTRIGGER_LOCAL_WORKDIR"
SECONDS_PER_MINUTE = "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE"
EVENT_WEBHOOK = "AIBTRIGGER_LOCAL_EVENT_WEBHOOK"
HEARTBEAT_SECONDS = "AIBTRIGGER_LOCAL_HEARTBEAT_SECONDS"
NETWORK = "AIBTRIGGER_LOCAL_NETWORK"  # "off": builds get a network namespace of their own, with no network
DISK_IMAGE = "AIBTRIGGER_LOCAL_DISK_IMAGE"  # "1": also capture a raw ext4 disk image


@dataclass(frozen=True)
class BuilderConfig:
    connection_string: str
    catalog_path: Path
    workdir: Path
    seconds_per_minute: float = 60.0
    event_webhook: str | None = None
    heartbeat_seconds: float = 5.0
    network: bool = True
    disk_image: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BuilderConfig:
        env = os.environ if env is None else env
        connection = env.get(STORAGE_CONNECTION) or env.get(STORAGE_CONNECTION_FALLBACK)
        catalog = env.get(CATALOG_PATH)
        if not connection or not catalog:
            missing = [name for name, value in ((STORAGE_CONNECTION, connection), (CATALOG_PATH, catalog)) if not value]
            raise SystemExit(f"local builder: set {' and '.join(missing)}")
        return cls(
            connection_string=connection,
            catalog_path=Path(catalog),
            workdir=Path(env.get(WORKDIR) or ".aibtrigger"),
            seconds_per_minute=float(env.get(SECONDS_PER_MINUTE) or 60.0),
            event_webhook=env.get(EVENT_WEBHOOK) or None,
            heartbeat_seconds=float(env.get(HEARTBEAT_SECONDS) or 5.0),
            **_or_exit(switches, env),
        )

    def to_env(self) -> dict[str, str]:
        """The variables a spawned builder needs (the caller merges them into its environment)."""
        env = {
            STORAGE_CONNECTION: self.connection_string,
            CATALOG_PATH: str(self.catalog_path),
            WORKDIR: str(self.workdir),
            SECONDS_PER_MINUTE: repr(self.seconds_per_minute),
            HEARTBEAT_SECONDS: repr(self.heartbeat_seconds),
        }
        if self.event_webhook:
            env[EVENT_WEBHOOK] = self.event_webhook
        if not self.network:  # defaults are left out, so the caller's own environment can set them
            env[NETWORK] = "off"
        if self.disk_image:
            env[DISK_IMAGE] = "1"
        return env


class Switches(TypedDict):
    """BuilderConfig's on/off fields, by name (from_env passes them as keywords)."""

    network: bool
    disk_image: bool


def switches(env: Mapping[str, str]) -> Switches:
    """The build's on/off settings; ValueError naming the variable when one is neither."""
    return {"network": _switch(env, NETWORK, default=True), "disk_image": _switch(env, DISK_IMAGE, default=False)}


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise ValueError(f"{name}={value!r}: use on or off")


_T = TypeVar("_T")


def _or_exit(read: Callable[[Mapping[str, str]], _T], env: Mapping[str, str]) -> _T:
    try:
        return read(env)
    except ValueError as exc:
        raise SystemExit(f"local builder: {exc}") from None
