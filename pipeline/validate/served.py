"""Which built-in API versions a Kubernetes version serves by default.

The schema data holds every API a release can serve, alpha and beta included; the API
server serves fewer unless `--runtime-config` says otherwise. Its rules, from its
default resource configuration (`DefaultAPIResourceConfigSource` in kube-apiserver's
`pkg/controlplane`, per release):

* GA versions are on; alpha versions are always off;
* beta versions are off (KEP-3136: every beta API new since 1.24), except the legacy
  betas that were on before and stay on until their removal: `LEGACY_BETA` below, per
  minor, from that configuration's `legacyBetaEnabledByDefaultResources`.

A class that runs clusters with more enabled names them in `apiVersions`
(`group/version`, or `group/version/Kind` for one kind), which Helm's Capabilities use
too (docs/configuration.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_FLOW = "flowcontrol.apiserver.k8s.io"
_FLOW_KINDS = ("FlowSchema", "PriorityLevelConfiguration")


def _kinds(group: str, version: str, *kinds: str) -> frozenset[tuple[str, str, str]]:
    return frozenset((group, version, kind) for kind in kinds)


_V125 = (_kinds("autoscaling", "v2beta2", "HorizontalPodAutoscaler") | _kinds(_FLOW, "v1beta1", *_FLOW_KINDS)
         | _kinds(_FLOW, "v1beta2", *_FLOW_KINDS) | _kinds("storage.k8s.io", "v1beta1", "CSIStorageCapacity"))
_V126 = (_kinds(_FLOW, "v1beta2", *_FLOW_KINDS) | _kinds(_FLOW, "v1beta3", *_FLOW_KINDS)
         | _kinds("storage.k8s.io", "v1beta1", "CSIStorageCapacity"))
_V127 = _kinds(_FLOW, "v1beta2", *_FLOW_KINDS) | _kinds(_FLOW, "v1beta3", *_FLOW_KINDS)
_V129 = _kinds(_FLOW, "v1beta3", *_FLOW_KINDS)

# (group, version, kind) of the beta APIs on by default, per minor; a minor not listed
# (newer than this table) has none, as every release since 1.32.
LEGACY_BETA: Mapping[str, frozenset[tuple[str, str, str]]] = {
    "1.25": _V125, "1.26": _V126, "1.27": _V127, "1.28": _V127,
    "1.29": _V129, "1.30": _V129, "1.31": _V129,
}
_LEVEL = re.compile(r"^v\d+(alpha|beta)\d+$")


def stage(version: str) -> str:
    """alpha, beta or GA (`v1`, `v2`) of an API version."""
    m = _LEVEL.match(version)
    return m[1] if m else "GA"


def on_by_default(kubernetes: str, group: str, version: str, kind: str) -> bool:
    """Whether Kubernetes `kubernetes` ("1.29") serves this built-in API unless told not to."""
    level = stage(version)
    if level == "GA":
        return True
    return level == "beta" and (group, version, kind) in LEGACY_BETA.get(kubernetes, frozenset())


def enabled(listed: Iterable[str], group: str, version: str, kind: str) -> bool:
    """Whether a class's `apiVersions` names this API (`group/version` or with `/Kind`)."""
    api = f"{group}/{version}" if group else version
    return any(entry in (api, f"{api}/{kind}") for entry in listed)
