"""A TokenCredential for tests: JWT-shaped tokens (unsigned) with the audience of the scope asked for.

Production passes DefaultAzureCredential at the same place; the clients' code path is the same.
Azurite (`--oauth basic`) and the fake ARM check the shape, issuer, audience and lifetime, not a signature.
"""

from __future__ import annotations

import base64
import json
import threading
import time

from azure.core.credentials import AccessToken

TENANT = "72f988bf-0000-4000-8000-00000000c0de"
ISSUER = f"https://sts.windows.net/{TENANT}/"


class FakeTokenCredential:
    def __init__(self, *, lifetime: int = 3600, audience_override: str | None = None) -> None:
        self.lifetime = lifetime
        self.audience_override = audience_override  # to test a token meant for another service
        self.scopes_requested: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, claims=None, tenant_id=None, enable_cae=False, **kwargs) -> AccessToken:
        with self._lock:
            self.scopes_requested.append(scopes)
        now = int(time.time())
        audience = self.audience_override or scopes[0].removesuffix("/.default")
        payload = {
            "aud": audience,
            "iss": ISSUER,
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + self.lifetime,
            "tid": tenant_id or TENANT,
            "oid": "00000000-0000-4000-8000-0000000000a1",
            "sub": "aibtrigger-test",
        }
        return AccessToken(".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(payload), ""]), now + self.lifetime)

    def close(self) -> None:
        pass


def decode_claims(token: str) -> dict | None:
    """The payload of a JWT-shaped token, or None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None


def _b64(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")
