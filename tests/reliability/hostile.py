"""Hostile input, as hypothesis strategies: shared by tests/reliability and bench/reliability/fuzz.py.

Every strategy draws `Case`s. A hostile case is invalid *by construction* and names its attack in
`kind` (the bench counts per kind); `valid_*` strategies draw what must go through untouched, so a
batch can mix both. Bodies are bytes, as a queue message or an HTTP body arrives.

    requests: truncated JSON, wrong types, huge fields (past the 49,152-character queue limit too),
              unknown fields, templates outside the catalog, template names with path tricks (`..`,
              `%2e%2e`, extra segments, unicode look-alikes, trailing slashes), deeply nested JSON,
              NaN/Infinity, duplicate keys, bytes that are not UTF-8, JSON that is not an object
    polls:    the same, plus expected_seconds that no clock can hold (Infinity, 1e400, 1e300)
    events:   Event Grid and CloudEvents schemas: unknown event types, other operations, resource ids
              with path tricks, wrong types for every field, missing fields, huge values
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import count

from hypothesis import strategies as st


@dataclass(frozen=True)
class Case:
    kind: str  # the attack ("truncated", "wrong-type", ...) or "valid"
    body: bytes  # as it arrives: a queue message's decoded body, an HTTP body
    note: str = ""  # what was changed, for a failure's message

    @property
    def hostile(self) -> bool:
        return self.kind != "valid"


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def is_delivery(body: bytes) -> bool:
    """Whether the Functions host would take `body` as Event Grid events (an object, or a list of them)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(value, dict) or bool(value) and isinstance(value, list) and all(isinstance(v, dict) for v in value)
    )


def is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


# --- building blocks --------------------------------------------------------------------------------
_TEMPLATE_NAME = r"[a-z0-9][a-z0-9-]{0,62}"
_ID = r"[A-Za-z0-9][A-Za-z0-9._:+@-]{0,127}"
text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)  # never a lone surrogate
_serial = count()


def unique(prefix: str) -> str:
    """A distinct value per draw (ids must not collide across a run's cases)."""
    return f"{prefix}{next(_serial):08d}"


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False, allow_infinity=False), text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
non_strings = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(text, json_scalars, max_size=2),
)
truthy_non_strings = st.one_of(
    st.just(True),
    st.integers().filter(lambda i: i != 0),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != 0),
    st.lists(json_scalars, min_size=1, max_size=3),
    st.dictionaries(text, json_scalars, min_size=1, max_size=2),
)
_CYRILLIC = str.maketrans("aceopxy", "\u0430\u0441\u0435\u043e\u0440\u0445\u0443")


def fullwidth(name: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else "\uff0d" if c == "-" else c for c in name)


def lookalike(name: str) -> str:
    swapped = name.translate(_CYRILLIC)
    return swapped if swapped != name else "\u0430" + name  # no Latin letter to swap: prepend a Cyrillic a


# Ways to dress a catalog name so that it points elsewhere, or looks the same and is not.
NAME_TRICKS = {
    "dotdot-prefix": lambda n: f"../{n}",
    "dotdot-suffix": lambda n: f"{n}/..",
    "encoded-dotdot": lambda n: f"%2e%2e/{n}",
    "encoded-slash": lambda n: f"{n}%2F..%2Fother",
    "extra-segment": lambda n: f"{n}/../other",
    "backslash": lambda n: f"{n}\\..",
    "trailing-slash": lambda n: f"{n}/",
    "leading-slash": lambda n: f"/{n}",
    "dot-slash": lambda n: f"./{n}",
    "trailing-newline": lambda n: f"{n}\n",
    "leading-space": lambda n: f" {n}",
    "trailing-nul": lambda n: f"{n}\x00",
    "encoded-nul": lambda n: f"{n}%00",
    "upper-case": lambda n: n.upper() if n.upper() != n else f"X{n}",
    "fullwidth": fullwidth,
    "cyrillic": lookalike,
    "zero-width": lambda n: f"{n}\u200b",
    "unicode-dash": lambda n: n.replace("-", "\u2010") if "-" in n else f"{n}\u2010x",
    "resource-id": lambda n: (
        f"/subscriptions/0/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/{n}"
    ),
    "dots": lambda n: "..",
    "dot": lambda n: ".",
}


@st.composite
def tricked_name(draw, names: tuple[str, ...]) -> tuple[str, str]:
    trick = draw(st.sampled_from(sorted(NAME_TRICKS)))
    return trick, NAME_TRICKS[trick](draw(st.sampled_from(names)))


def unknown_name(names: tuple[str, ...]):
    return st.from_regex(_TEMPLATE_NAME, fullmatch=True).filter(lambda n: n not in names)


def huge(min_size: int):
    """A string longer than `min_size`, up to past the queue's 49,152-character limit (cheap to draw)."""
    return st.builds(
        lambda ch, n: ch * n,
        st.sampled_from(["x", "\u00e9", "\U0001f600", "A" * 7, "\u4e2d"]),
        st.integers(min_size + 1, 60_000),
    )


# --- request messages ---------------------------------------------------------------------------------
REQUEST_LIMITS = {"template": 63, "reason": 1000, "requested_by": 200, "id": 128, "upstream": 400}
REQUEST_FIELDS = (*REQUEST_LIMITS, "signal")


@st.composite
def request_message(draw, names: tuple[str, ...], http: bool = False) -> dict:
    """A valid request for one of `names` (over HTTP never `signal`: POST /api/requests refuses the internal fields)."""
    message = {"template": draw(st.sampled_from(names)), "id": unique("fz-")}
    if draw(st.booleans()):
        message["reason"] = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=1000))
    if draw(st.booleans()):
        message["requested_by"] = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=200))
    if not http and draw(st.booleans()):
        message["signal"] = draw(st.sampled_from(["manual", "source", "schedule", "cascade"]))
    return message


def valid_request(names: tuple[str, ...], http: bool = False):
    return request_message(names, http).map(lambda m: Case("valid", dumps(m)))


@st.composite
def _truncated(draw, base) -> Case:
    body = dumps(draw(base))
    cut = draw(st.integers(0, len(body) - 1))  # a proper prefix of an object is never JSON
    return Case("truncated", body[:cut], f"cut at {cut} of {len(body)}")


@st.composite
def _wrong_type(draw, base, required: tuple[str, ...], optional: tuple[str, ...]) -> Case:
    message = draw(base)
    field = draw(st.sampled_from(required + optional))
    value = draw(st.one_of(non_strings, st.none()) if field in required else non_strings)
    message[field] = value
    return Case("wrong-type", dumps(message), f"{field}={value!r}"[:200])


@st.composite
def _huge_field(draw, base, limits: dict[str, int]) -> Case:
    message = draw(base)
    field = draw(st.sampled_from(sorted(limits)))
    message[field] = draw(huge(limits[field]))
    return Case("huge-field", dumps(message), f"{field}: {len(message[field])} characters")


@st.composite
def _unknown_field(draw, base, known: tuple[str, ...]) -> Case:
    message = draw(base)
    name = draw(
        st.one_of(
            st.sampled_from(
                [
                    "definition",
                    "script",
                    "resource_id",
                    "customize",
                    "inline",
                    "scriptUri",
                    "__proto__",
                    "Template",
                    "template ",
                ]
            ),
            text,
        ).filter(lambda n: n not in known)
    )
    message[name] = draw(json_values)
    return Case("unknown-field", dumps(message), f"extra field {name!r}")


@st.composite
def _nested(draw, base) -> Case:
    depth = draw(st.integers(2, 100_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    deep = opener * depth + ("1" if opener != "[" else "") + closer * depth
    where = draw(st.sampled_from(["body", "field"]))
    if where == "body":
        return Case("deeply-nested", deep.encode(), f"depth {depth}")
    message = draw(base)
    field = draw(st.sampled_from(sorted(message)))
    body = dumps({**message, field: "@@"}).replace(b'"@@"', deep.encode(), 1)
    return Case("deeply-nested", body, f"{field} at depth {depth}")


_NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")


@st.composite
def _non_finite(draw, base, fields: tuple[str, ...]) -> Case:
    message = draw(base)
    field, constant = draw(st.sampled_from(fields)), draw(st.sampled_from(_NON_FINITE))
    body = dumps({**message, field: "@@"}).replace(b'"@@"', constant.encode(), 1)
    return Case("nan-infinity", body, f"{field}={constant}")


@st.composite
def _duplicate_key(draw, base, field: str, decoy) -> Case:
    """The same key twice: a lenient parser keeps one of them, and not every reader keeps the same one."""
    message = draw(base)
    other = draw(decoy)
    message.setdefault(field, draw(decoy))
    pair = [json.dumps(other, ensure_ascii=False), json.dumps(message[field], ensure_ascii=False)]
    if draw(st.booleans()):
        pair.reverse()
    rest = ", ".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in message.items() if k != field)
    body = "{" + f'"{field}": {pair[0]}, ' + (rest + ", " if rest else "") + f'"{field}": {pair[1]}' + "}"
    return Case("duplicate-key", body.encode("utf-8"), f"{field} twice")


_BAD_UTF8 = (b"\xff", b"\xfe\xfe", b"\xc0\x80", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc3(")


@st.composite
def _not_utf8(draw, base) -> Case:
    message = draw(base)
    how = draw(st.sampled_from(["inserted", "latin-1", "utf-16", "cp1252"]))
    if how == "inserted":
        body = dumps(message)
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(_BAD_UTF8)) + body[at:]
    elif how == "utf-16":
        body = json.dumps(message).encode("utf-16")
    else:
        body = json.dumps({**message, "reason": "caf\u00e9 na\u00efve"}, ensure_ascii=False).encode(how, "replace")
    try:
        body.decode("utf-8")
        body += b"\xff"  # still UTF-8 after all (a lucky insertion): make sure it is not
    except UnicodeDecodeError:
        pass
    return Case("not-utf-8", body, how)


def _not_json(accept=lambda b: not is_json_object(b)):
    garbage = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from(
            [
                b"",
                b" ",
                b"\n",
                b"{",
                b"}",
                b"{'template': 'x'}",
                b"template=base",
                b"<xml/>",
                b"null",
                b"\xef\xbb\xbf",
                b"{}}",
                b"{,}",
                b'{"template"}',
            ]
        ),
    )
    return garbage.filter(accept).map(lambda b: Case("not-json", b))


def _not_object():
    return st.one_of(st.lists(json_values, max_size=3), json_scalars).map(lambda v: Case("not-an-object", dumps(v)))


def _utf8_bom(base):
    return base.map(lambda m: Case("utf-8-bom", b"\xef\xbb\xbf" + dumps(m)))


def hostile_request(names: tuple[str, ...], *, http: bool = False):
    """Request bodies that must all be rejected. `names`: templates in the catalog (any may be paused).
    http: also the fields only the service itself may set (upstream)."""
    base = request_message(names)
    strategies = [
        _truncated(base),
        _wrong_type(base, ("template", "reason", "requested_by", "signal"), ("id", "upstream")),
        _huge_field(base, REQUEST_LIMITS),
        _unknown_field(base, REQUEST_FIELDS),
        _nested(base),
        _non_finite(base, REQUEST_FIELDS),
        _not_utf8(base),
        _not_json(),
        _not_object(),
        _utf8_bom(base),
        st.builds(lambda m, n: Case("outside-catalog", dumps({**m, "template": n}), n), base, unknown_name(names)),
        st.builds(lambda m, t: Case("path-trick", dumps({**m, "template": t[1]}), t[0]), base, tricked_name(names)),
        _duplicate_key(base, "template", st.one_of(unknown_name(names), tricked_name(names).map(lambda t: t[1]))),
        _duplicate_key(base, "reason", text),
        base.map(lambda m: Case("missing-field", dumps({k: v for k, v in m.items() if k != "template"}))),
        st.builds(
            lambda m, s: Case("bad-value", dumps({**m, "signal": s}), f"signal={s!r}"),
            base,
            text.filter(lambda s: s not in ("manual", "source", "schedule", "cascade")),
        ),
        st.builds(
            lambda m, i: Case("bad-value", dumps({**m, "id": i}), f"id={i!r}"),
            base,
            text.filter(lambda i: not re.fullmatch(_ID, i)),
        ),
    ]
    if http:
        strategies.append(
            st.builds(
                lambda m, r: Case("internal-field", dumps({**m, "upstream": r})),
                base,
                st.text(min_size=1, max_size=200),
            )
        )
    return st.one_of(strategies)


# --- poll messages -------------------------------------------------------------------------------------
POLL_LIMITS = {"run_id": 200, "token": 64, "template": 63}
POLL_FIELDS = ("template", "run_id", "token", "expected_seconds")


@st.composite
def poll_message(draw, names: tuple[str, ...]) -> dict:
    """Well-formed, for a catalog template, naming a run that does not exist: a stale poll (a no-op)."""
    message = {
        "template": draw(st.sampled_from(names)),
        "run_id": unique("run-"),
        "token": draw(st.from_regex(r"[0-9a-f]{12}", fullmatch=True)),
    }
    if draw(st.booleans()):
        message["expected_seconds"] = draw(st.one_of(st.none(), st.floats(0, 86_400 * 7)))
    return message


def stale_poll(names: tuple[str, ...]):
    return poll_message(names).map(lambda m: Case("valid", dumps(m)))


def hostile_poll(names: tuple[str, ...]):
    base = poll_message(names)
    return st.one_of(
        _truncated(base),
        _wrong_type(base, ("template", "run_id", "token"), ()),
        st.builds(
            lambda m, v: Case("wrong-type", dumps({**m, "expected_seconds": v}), repr(v)[:100]),
            base,
            st.one_of(
                st.lists(st.integers(), max_size=2),
                st.dictionaries(text, st.integers(), max_size=1),
                text.filter(lambda t: _not_a_number(t)),
            ),
        ),
        _huge_field(base, POLL_LIMITS),
        _unknown_field(base, POLL_FIELDS),
        _nested(base),
        _non_finite(base, ("expected_seconds",)),
        st.builds(
            lambda m, v: Case("out-of-range", dumps({**m, "expected_seconds": v}), repr(v)),
            base,
            st.one_of(
                st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                st.floats(min_value=1e9, allow_nan=False, allow_infinity=False),
            ),
        ),
        _not_utf8(base),
        _not_json(),
        _not_object(),
        _utf8_bom(base),
        st.builds(lambda m, n: Case("outside-catalog", dumps({**m, "template": n}), n), base, unknown_name(names)),
        st.builds(lambda m, t: Case("path-trick", dumps({**m, "template": t[1]}), t[0]), base, tricked_name(names)),
        _duplicate_key(base, "template", unknown_name(names)),
        base.map(lambda m: Case("missing-field", dumps({k: v for k, v in m.items() if k != "token"}))),
    )


def _not_a_number(value: str) -> bool:
    try:
        float(value)
        return False
    except ValueError:
        return True


# --- Event Grid events ----------------------------------------------------------------------------------
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def version_id(
    image: str = "fuzz-base", version: str = "1.0.0", *, gallery: str = "golden", group: str = "images"
) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Compute/galleries/{gallery}/"
        f"images/{image}/versions/{version}"
    )


# A gallery image version id, dressed to point elsewhere or to look right and not be.
RESOURCE_TRICKS = {
    "dotdot": lambda r: r.replace("/versions/", "/versions/../versions/"),
    "encoded-dotdot": lambda r: r.replace("/images/", "/images/%2e%2e/images/"),
    "extra-segment": lambda r: r + "/extra",
    "trailing-slash": lambda r: r + "/",
    "trailing-newline": lambda r: r + "\n",
    "double-slash": lambda r: r.replace("/images/", "//images/"),
    "backslash": lambda r: r.replace("/versions/", "\\versions\\"),
    "query": lambda r: r + "?api-version=1",
    "fragment": lambda r: r + "#x",
    "space": lambda r: r + " ",
    "cyrillic-provider": lambda r: r.replace("Microsoft.Compute", "Micr\u043esoft.Compute"),
    "cyrillic-gallery": lambda r: r.replace("/galleries/golden", "/galleries/g\u043elden"),
    "fullwidth-version": lambda r: r.rsplit("/", 1)[0] + "/\uff11.\uff10.\uff10",
    "arabic-digits": lambda r: r.rsplit("/", 1)[0] + "/\u0661.\u0660.\u0660",
    "four-part-version": lambda r: r + ".0",
    "negative-version": lambda r: r.rsplit("/", 1)[0] + "/-1.0.0",
    "huge-version": lambda r: r.rsplit("/", 1)[0] + "/1.0." + "9" * 5000,
    "imageversions": lambda r: r.replace("/versions/", "/imageVersions/"),
    "no-version": lambda r: r.rsplit("/versions/", 1)[0],
    "other-provider": lambda r: r.replace("Microsoft.Compute", "Microsoft.Storage"),
    "relative": lambda r: r.removeprefix("/"),
    "nul": lambda r: r + "\x00",
    "url": lambda r: "https://management.azure.com" + r,
}


def gallery_event(
    resource: str,
    *,
    schema: str,
    event_id: str | None = None,
    event_type: str = WRITE_SUCCESS,
    operation: str = VERSION_WRITE,
) -> dict:
    """A gallery image version write as Event Grid delivers it, in either schema."""
    data = {
        "resourceUri": resource,
        "operationName": operation,
        "status": "Succeeded",
        "subscriptionId": SUBSCRIPTION,
        "tenantId": SUBSCRIPTION,
    }
    if schema == "cloudevents":
        return {
            "specversion": "1.0",
            "id": event_id or unique("ce-"),
            "type": event_type,
            "data": data,
            "source": f"/subscriptions/{SUBSCRIPTION}",
            "subject": resource,
            "time": "2026-11-22T08:00:00Z",
        }
    return {
        "id": event_id or unique("eg-"),
        "eventType": event_type,
        "subject": resource,
        "data": data,
        "topic": f"/subscriptions/{SUBSCRIPTION}",
        "eventTime": "2026-11-22T08:00:00.1234567Z",
        "dataVersion": "",
        "metadataVersion": "1",
    }


@dataclass(frozen=True)
class EventCase:
    kind: str  # the attack, or "valid"
    event: dict  # one event, in `schema`
    schema: str  # "eventgrid" | "cloudevents"
    note: str = ""

    @property
    def hostile(self) -> bool:
        return self.kind != "valid"


def _type_key(schema: str) -> str:
    return "type" if schema == "cloudevents" else "eventType"


schemas = st.sampled_from(["eventgrid", "cloudevents"])


def valid_event(images: tuple[str, ...]):
    """A gallery version write the service must act on (plan) for one of `images` (gallery image names)."""
    return st.builds(
        lambda s, i, v: EventCase("valid", gallery_event(version_id(i, f"1.0.{v}"), schema=s), s),
        schemas,
        st.sampled_from(images),
        st.integers(0, 2**31 - 1),
    )


@st.composite
def hostile_event(draw, images: tuple[str, ...]) -> EventCase:
    """One event the service must record as ignored (never act on, never fail on)."""
    schema = draw(schemas)
    good = version_id(draw(st.sampled_from(images)), f"1.0.{draw(st.integers(0, 999))}")
    event = gallery_event(good, schema=schema)
    kind = draw(st.sampled_from(["event-type", "operation", "path-trick", "wrong-type", "missing-field", "huge-field"]))
    note = ""
    if kind == "event-type":
        other = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "Microsoft.Resources.ResourceDeleteSuccess",
                        "Microsoft.Resources.ResourceWriteFailure",
                        "Microsoft.Storage.BlobCreated",
                        "Microsoft.EventGrid.SubscriptionValidationEvent",
                        "microsoft.resources.resourcewritesuccess",
                        WRITE_SUCCESS + " ",
                        "",
                    ]
                ),
                text,
            ).filter(lambda t: t != WRITE_SUCCESS)
        )
        event[_type_key(schema)], note = other, repr(other)
    elif kind == "operation":
        op = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "Microsoft.Compute/galleries/images/versions/delete",
                        "Microsoft.Compute/galleries/images/write",
                        "Microsoft.Compute/virtualMachines/write",
                        VERSION_WRITE + "/x",
                        "",
                    ]
                ),
                text,
            ).filter(lambda o: o.lower() != VERSION_WRITE.lower())
        )
        event["data"]["operationName"], note = op, repr(op)
    elif kind == "path-trick":
        trick = draw(st.sampled_from(sorted(RESOURCE_TRICKS)))
        tricked = RESOURCE_TRICKS[trick](good)
        event["subject"] = event["data"]["resourceUri"] = tricked
        note = trick
    elif kind == "wrong-type":
        field = draw(st.sampled_from(["subject", "data", "data.resourceUri", "data.operationName", "type", "both"]))
        # Truthy: the service reads data.resourceUri, else the subject (a falsy resourceUri is "absent").
        value = draw(
            truthy_non_strings
            if field != "data"
            else st.one_of(st.lists(json_scalars, min_size=1, max_size=3), truthy_non_strings, text)
        )
        if field == "data":
            event["data"] = value
        elif field == "subject":
            event["subject"] = value
            event["data"]["resourceUri"] = ""  # the service falls back on the subject
        elif field == "both":
            event["subject"] = value
            event["data"]["resourceUri"] = draw(truthy_non_strings)
        elif field == "type":
            event[_type_key(schema)] = value
        else:
            event["data"][field.split(".")[1]] = value
        note = f"{field}={value!r}"[:200]
    elif kind == "missing-field":
        field = draw(st.sampled_from(["data", "type", "resource", "operation"]))
        if field == "data":
            del event["data"]
            del event["subject"]
        elif field == "type":
            del event[_type_key(schema)]
        elif field == "resource":
            del event["subject"]
            del event["data"]["resourceUri"]
        else:
            del event["data"]["operationName"]
        note = field
    else:
        field = draw(st.sampled_from(["resource", "type", "operation"]))
        value = draw(huge(2_000))
        if field == "resource":
            event["subject"] = event["data"]["resourceUri"] = good + value
        elif field == "type":
            event[_type_key(schema)] = value
        else:
            event["data"]["operationName"] = value
        note = f"{field}: {len(value)} characters"
    return EventCase(kind, event, schema, note)


# Deliveries the Functions host itself refuses (400) before any function runs.
def hostile_delivery():
    return st.one_of(
        _not_json(lambda b: not is_delivery(b)),
        st.one_of(json_scalars, st.lists(json_scalars, min_size=1, max_size=3), st.just([])).map(
            lambda v: Case("not-events", dumps(v))
        ),
        st.integers(1_000, 100_000).map(lambda d: Case("deeply-nested", ("[" * d + "]" * d).encode(), f"depth {d}")),
        st.binary(min_size=1, max_size=50).map(lambda b: b"[" + b + b"\xff]").map(lambda b: Case("not-utf-8", b)),
        st.builds(
            lambda s, t: Case(
                "bad-time",
                dumps([{**gallery_event(version_id(), schema=s), ("time" if s == "cloudevents" else "eventTime"): t}]),
                t,
            ),
            schemas,
            st.sampled_from(["yesterday", "2026-13-45T00:00:00Z", "0", "2026-11-22T25:61:00Z"]),
        ),
    )
