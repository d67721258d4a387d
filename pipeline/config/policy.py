"""fleet/policy.yaml: severities per rule, rule parameters, packages every cluster must
run, waivers, and where operators' custom kinds keep their pods (for capacity).
Optional: without it every rule has its default severity. Which rule ids exist is the
validate stage's to say (`pipeline.validate.rules`)."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

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

    def lapsed(self, today: dt.date) -> bool:
        """Past its expiry: it waives nothing from the day after `expires` on (on that day
        itself it still holds)."""
        return self.expires is not None and self.expires < today

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


@dataclass(frozen=True)
class Workload:
    """Where a custom kind keeps the pods its operator runs: field paths (dotted, list
    items as [n]) to the replica counts (multiplied; a missing one counts 1), to one pod's
    `resources` block or to its pod spec, and to the storage each pod claims. With `each`,
    the paths are inside every item of that list (e.g. Elasticsearch's nodeSets)."""

    group: str
    kind: str
    replicas: tuple[str, ...] = ("spec.replicas",)
    resources: str | None = None
    pod_spec: str | None = None
    storage: tuple[str, ...] = ()
    each: str | None = None


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
    workloads: tuple[Workload, ...] = ()
    access: Mapping[str, Any] | None = None  # `access:`, the tenant policy (pipeline.access.policy)

    def at(self, *key: str | int) -> str:
        """`file:line: key` of a node of policy.yaml (for error messages)."""
        return self.document.at(*key) if self.document is not None else POLICY


_FALSE_WORDS = frozenset({"off", "Off", "OFF", "no", "No", "NO", "false", "False", "FALSE"})
_TRUE_WORDS = frozenset({"on", "On", "ON", "yes", "Yes", "YES", "true", "True", "TRUE"})


def _severity_words(text: bytes) -> bytes:
    """The text with each bare severity that YAML reads as a boolean quoted: `off` (and
    `no`, `false`) is off whichever YAML reads it, so it is written "off"; `on`, `yes` and
    `true` are quoted as they are, for the schema to say what a severity can be. Lines
    stay put."""
    try:
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return text  # the strict reader says what is wrong
    rules = next((v for k, v in root.value if getattr(k, "value", None) == "rules"), None) \
        if isinstance(root, yaml.MappingNode) else None
    if not isinstance(rules, yaml.MappingNode):
        return text
    spots = []
    for _, setting in rules.value:
        if isinstance(setting, yaml.MappingNode):
            setting = next((v for k, v in setting.value if getattr(k, "value", None) == "severity"), None)
        if isinstance(setting, yaml.ScalarNode) and not setting.style and \
                setting.value in _FALSE_WORDS | _TRUE_WORDS:
            spots.append(setting)
    if not spots:
        return text
    # libyaml's marks count characters after any byte order mark, as these decodings do.
    encoding = "utf-16" if text[:2] in (b"\xff\xfe", b"\xfe\xff") else \
        "utf-8-sig" if text.startswith(b"\xef\xbb\xbf") else "utf-8"
    chars = text.decode(encoding)
    for node in sorted(spots, key=lambda n: -n.start_mark.index):
        word = "off" if node.value in _FALSE_WORDS else node.value
        chars = f'{chars[:node.start_mark.index]}"{word}"{chars[node.end_mark.index:]}'
    return chars.encode(encoding)


def load(tree: Tree, memo: Memo | None = None) -> Policy:
    """fleet/policy.yaml checked against its schema; an empty Policy if there is none.
    `memo`: the render cache (see `Schemas.checked`)."""
    if not tree.is_file(POLICY):
        if tree.is_dir(POLICY):
            raise ConfigError(f"{POLICY}: is a directory; the policy is one YAML file "
                              "(docs/validation.md)")
        return Policy(None)
    text = _severity_words(tree.read(POLICY))
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
    for index, item in enumerate(data.get("workloads") or ()):
        if ("resources" in item) == ("podSpec" in item):
            raise ConfigError(f"{doc.at('workloads', index)}: give one of resources (the field "
                              "holding a pod's requests and limits) or podSpec (the field holding "
                              "a pod spec)")
    workloads = tuple(
        Workload(item["apiGroup"], item["kind"], tuple(item.get("replicas", ("spec.replicas",))),
                 item.get("resources"), item.get("podSpec"), tuple(item.get("storage", ())),
                 item.get("each"))
        for item in data.get("workloads") or ())
    return Policy(POLICY, severities, params, tuple(data.get("required") or ()), tuple(waivers), doc,
                  workloads, data.get("access"))
