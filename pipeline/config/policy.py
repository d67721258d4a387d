"""fleet/policy.yaml: severities per rule, rule parameters, packages every cluster must
run, and waivers. Optional: without it every rule has its default severity. Which rule
ids exist is the validate stage's to say (`pipeline.validate.rules`)."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.config.schema import Document, Memo, Schemas, line_of
from pipeline.config.source import Tree
from pipeline.errors import ConfigError

POLICY = "fleet/policy.yaml"


@dataclass(frozen=True)
class Waiver:
    """An accepted finding: `rule` where every given scope matches; `at` is file:line."""

    rule: str
    reason: str
    at: str
    line: int
    expires: dt.date | None = None
    classes: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()  # Kind/name or Kind/namespace/name, shell-style patterns

    def covers_cluster(self, cluster: str, class_name: str, site: str) -> bool:
        return ((not self.clusters or _match(cluster, self.clusters))
                and (not self.classes or _match(class_name, self.classes))
                and (not self.sites or _match(site, self.sites)))

    def covers_object(self, package: str | None, kind: str | None, namespace: str,
                      name: str | None) -> bool:
        if self.packages and (package is None or not _match(package, self.packages)):
            return False
        if not self.objects:
            return True
        if kind is None or name is None:
            return False
        return _match(f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}", self.objects)


def _match(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True)
class Policy:
    path: str | None  # None: no policy.yaml
    severities: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    document: Document | None = None
    access: Mapping[str, Any] | None = None  # `access:`, the tenant policy (pipeline.access.policy)

    def at(self, *key: str | int) -> str:
        """`file:line: key` of a node of policy.yaml (for error messages)."""
        return self.document.at(*key) if self.document is not None else POLICY


def load(tree: Tree, memo: Memo | None = None) -> Policy:
    """fleet/policy.yaml checked against its schema; an empty Policy if there is none.
    `memo`: the render cache (see `Schemas.checked`)."""
    if not tree.is_file(POLICY):
        if tree.is_dir(POLICY):
            raise ConfigError(f"{POLICY}: is a directory; the policy is one YAML file "
                              "(docs/validation.md)")
        return Policy(None)
    text = tree.read(POLICY)
    data = Schemas.load(memo).checked("policy", POLICY, text)
    if data is None:
        return Policy(POLICY)
    doc = Document(POLICY, text, data)
    severities: dict[str, str] = {}
    params: dict[str, dict[str, Any]] = {}
    for rule, setting in (data.get("rules") or {}).items():
        if isinstance(setting, str):
            severities[rule] = setting
            continue
        if "severity" in setting:
            severities[rule] = setting["severity"]
        params[rule] = {k: v for k, v in setting.items() if k != "severity"}
    waivers = []
    for index, item in enumerate(data.get("waivers") or []):
        expires = None
        if "expires" in item:
            try:
                expires = dt.date.fromisoformat(item["expires"])
            except ValueError:
                raise ConfigError(f"{doc.at('waivers', index, 'expires')}: {item['expires']!r} "
                                  "is not a date (YYYY-MM-DD)") from None
        waivers.append(Waiver(
            item["rule"], item["reason"], doc.at("waivers", index),
            line_of(text, ("waivers", index)) or 1, expires,
            **{scope: tuple(str(v) for v in item.get(scope) or ())
               for scope in ("classes", "sites", "clusters", "packages", "objects")}))
    return Policy(POLICY, severities, params, tuple(data.get("required") or ()), tuple(waivers), doc,
                  data.get("access"))
