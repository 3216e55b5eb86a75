"""customization.log contents for the fake's builds: the recorded-shape logs under tests/events/logs."""

from __future__ import annotations

from pathlib import Path

_LOGS = Path(__file__).resolve().parents[1] / "events" / "logs"
SAS_SECRET = "sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


def recorded(name: str) -> str:
    """A recorded-shape log without its `#` provenance header."""
    lines = (_LOGS / name).read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith("#")) + "\n"


SUCCESS_LOG = recorded("ok_newest_skipping_image.log")
# A failing apt step, and a script URL with a SAS signature that must never come out unmasked.
FAILED_APT_LOG = (
    f"[7111a125-9cce-4cc6-80f1-70030c08e815] PACKER 2025/03/18 20:42:30 ui:     azure-arm: fetching "
    f"https://scripts.blob.core.windows.net/s/setup.sh?sv=2024-08-04&{SAS_SECRET}\n"
    + recorded("aib2025_newest_shell_apt.log")
)
