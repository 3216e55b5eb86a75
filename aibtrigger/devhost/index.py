"""Index a FunctionApp the way the Python worker does, from each function's own bindings."""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("aibtrigger.devhost")

TRIGGERS = {"queueTrigger", "timerTrigger", "eventGridTrigger", "httpTrigger"}
# Output bindings the dev host can honour; a function with any other binding is skipped.
OUTPUTS = {"http", "queue"}
_SETTING = re.compile(r"%([^%]+)%")
# Binding properties that name things rather than hold values: never resolved.
_LITERAL_KEYS = {"type", "direction", "name"}


class BindingError(ValueError):
    """A function the dev host cannot run (unsupported binding, unresolved %SETTING%)."""


@dataclass
class FunctionSpec:
    name: str
    trigger: dict  # the trigger binding, %SETTING% expressions resolved
    outputs: list[dict]  # output bindings ("$return" included), resolved
    user_function: Callable
    parameters: Mapping[str, inspect.Parameter] = field(default_factory=dict)

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def annotation(self, name: str) -> Any:
        param = self.parameters.get(name)
        return None if param is None else param.annotation


def resolve(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace %NAME% with the app setting NAME (an environment variable), as the host does."""
    if not isinstance(value, str):
        return value

    def setting(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise BindingError(f"'%{name}%' does not resolve to a value (set the app setting {name})")
        return environ[name]

    return _SETTING.sub(setting, value)


def _spec(function, environ: Mapping[str, str]) -> FunctionSpec:
    name = function.get_function_name()
    bindings = [json.loads(raw) if isinstance(raw, str) else raw for raw in function.get_raw_bindings()]
    resolved = [{k: (v if k in _LITERAL_KEYS else resolve(v, environ)) for k, v in b.items()} for b in bindings]
    triggers = [b for b in resolved if b["type"].endswith("Trigger")]
    if len(triggers) != 1:
        raise BindingError(f"{name}: expected one trigger, found {len(triggers)}")
    trigger = triggers[0]
    if trigger["type"] not in TRIGGERS:
        raise BindingError(f"{name}: trigger {trigger['type']} is not supported by the dev host")
    others = [b for b in resolved if b is not trigger]
    unsupported = [b["type"] for b in others if b.get("direction", "").upper() != "OUT" or b["type"] not in OUTPUTS]
    if unsupported:
        raise BindingError(f"{name}: bindings {unsupported} are not supported by the dev host")
    user_function = function.get_user_function()
    return FunctionSpec(name, trigger, others, user_function, dict(inspect.signature(user_function).parameters))


def _disabled(name: str, environ: Mapping[str, str]) -> bool:
    # The host's per-function switch: app setting AzureWebJobs.<name>.Disabled = true/1.
    return environ.get(f"AzureWebJobs.{name}.Disabled", "").strip().lower() in ("true", "1")


def index_app(
    app, *, environ: Mapping[str, str] | None = None, only: set[str] | None = None
) -> tuple[list[FunctionSpec], dict[str, str]]:
    """(functions to run, {name: why skipped}). A broken function is reported, not fatal,
    as the host marks it in error and runs the rest."""
    environ = os.environ if environ is None else environ
    specs: list[FunctionSpec] = []
    skipped: dict[str, str] = {}
    for function in app.get_functions():  # once per app object: it builds the index
        name = function.get_function_name()
        if only is not None and name.lower() not in only:
            skipped[name] = "not listed in host.json functions"
        elif _disabled(name, environ):
            skipped[name] = f"disabled by AzureWebJobs.{name}.Disabled"
        else:
            try:
                specs.append(_spec(function, environ))
            except BindingError as exc:
                skipped[name] = str(exc)
                log.error("Function %s will not run: %s", name, exc)
    return specs, skipped
