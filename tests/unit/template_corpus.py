"""Reading the template corpus (tests/fixtures/templates) as a user would paste it into a catalog.

A fixture is a file as published: a template resource, a REST body, or an ARM deployment template
holding one (`resources[]` of type imageTemplates), `.jsonc` when it carries `//` comments (ARM
accepts them). Placeholders the source asks its reader to replace (`<runOutputName>`) are filled
with the values EXPECTED.json names, as that reader would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text(encoding="utf-8"))
_LINE_COMMENT = re.compile(r"^\s*//.*$", re.MULTILINE)
IMAGE_TEMPLATES = "microsoft.virtualmachineimages/imagetemplates"


def fixture_names() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".jsonc") and p.name != "EXPECTED.json")


def pasted_templates(name: str, *, fill: dict[str, str] | None = None) -> list[object]:
    """The image template(s) in fixture `name`, as a catalog `definition` would hold them."""
    text = (CORPUS / name).read_text(encoding="utf-8-sig")
    if name.endswith(".jsonc"):
        text = _LINE_COMMENT.sub("", text)
    for placeholder, value in (EXPECTED[name].get("fill", {}) if fill is None else fill).items():
        text = text.replace(placeholder, value)
    document = json.loads(text)
    if isinstance(document, dict) and isinstance(document.get("resources"), list):
        return [r for r in document["resources"] if str(r.get("type", "")).lower() == IMAGE_TEMPLATES]
    return [document]


def as_catalog(definition: object) -> dict:
    return {"templates": [{"name": "pasted", "definition": definition}]}
