"""Keep secret values out of every diff output.

Applied to each object before anything is compared or printed: the values of a
`Secret` (and of other kinds that carry secret data, except SealedSecrets whose data is
encrypted) become `<secret sha256:XXXXXXXX>`, a short hash salted per report, so a
reviewer sees which keys were added, removed or changed, never a value. The
`kubectl.kubernetes.io/last-applied-configuration` annotation (a copy of the object,
secrets included) is scrubbed everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SAFE_SECRET_KINDS = frozenset({("bitnami.com", "SealedSecret")})
_DATA_KEYS = ("data", "stringData", "binaryData")


def holds_secrets(group: str, kind: str) -> bool:
    """Core Secrets, and any `*Secret` kind that is not a SealedSecret."""
    return kind.endswith("Secret") and (group, kind) not in SAFE_SECRET_KINDS


class Redactor:
    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def token(self, value: Any) -> str:
        digest = hmac.new(self._salt, str(value).encode(), hashlib.sha256).hexdigest()[:8]
        return f"<secret sha256:{digest}>"

    def _mask(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: self.token(v) for k, v in data.items()}
        return self.token(data) if data else data

    def object(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `body` that is safe to print."""
        out = dict(body)
        meta = out.get("metadata")
        if isinstance(meta, Mapping) and LAST_APPLIED in (meta.get("annotations") or {}):
            annotations = {**meta["annotations"], LAST_APPLIED: "<scrubbed>"}
            out["metadata"] = {**meta, "annotations": annotations}
        group = str(out.get("apiVersion", "")).rpartition("/")[0]
        if holds_secrets(group, str(out.get("kind", ""))):
            for key in _DATA_KEYS:
                if key in out:
                    out[key] = self._mask(out[key])
            spec = out.get("spec")
            if isinstance(spec, Mapping):
                out["spec"] = {k: self._mask(v) if k in _DATA_KEYS else v for k, v in spec.items()}
        return out
