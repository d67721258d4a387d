"""The validate stage's road: rendered clusters + policy → one Report.

1. Settle the policy: each rule's severity and parameters (unknown ids are errors).
2. Check each distinct post-processed output once per (schema version, the cluster's
   CRDs): schemas and object rules give raw hits, and each workload's demand. Clusters
   that share an output share its hits; the persistent cache keeps them by the same
   digests, so a warm run parses no object.
3. Per cluster: severities and waivers turn hits into findings; capacity and required
   packages are judged; then findings are merged across clusters.
4. Waivers: expired ones are errors (and waive nothing); unused ones, warnings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from pipeline.config import kustomizations
from pipeline.config.model import Cluster, Inventory, suggest
from pipeline.config.policy import Policy, Workload
from pipeline.config.schema import line_of
from pipeline.config.source import Tree
from pipeline.errors import ConfigError, PipelineError
from pipeline.render.cache import Cache, NoCache
from pipeline.render.engine import ClusterRender, PackageRender
from pipeline.render.postprocess import CRD
from pipeline.render.resources import Resource
from pipeline.validate import capacity, layers, operators, rules, webhooks
from pipeline.validate.crd import CrdCompiler, CrdSchemas
from pipeline.validate.findings import (
    Finding,
    ObjectRef,
    Report,
    Severity,
    Source,
    Usage,
    Waived,
    merge,
)
from pipeline.validate.kube import Schemas
from pipeline.validate.sources import Lines, item_names

VERSION = "2"  # of the cached raw hits; bump when their shape or meaning changes


@dataclass(frozen=True)
class Settings:
    """The policy settled against the rules hydrate knows."""

    severity: Mapping[str, Severity]
    params: Mapping[str, Mapping[str, Any]]  # object rules that are on → their parameters
    workloads: Mapping[tuple[str, str], tuple[Workload, ...]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.params, sorted(self.workloads.items())],
                                         sort_keys=True, default=str).encode()).hexdigest()


def settle(policy: Policy) -> Settings:
    """Severities and parameters per rule; ConfigError naming policy.yaml's line for an
    unknown rule or parameter."""
    for rule in (*policy.severities, *policy.params):
        if rule not in rules.RULES:
            raise ConfigError(f"{policy.at('rules', rule)}: unknown rule {rule!r}"
                              f"{suggest(rule, rules.RULES)} (docs/validation.md lists the rules)")
    for rule, given in policy.params.items():
        unknown = sorted(set(given) - set(rules.RULES[rule].params))
        if unknown:
            names = ", ".join(rules.RULES[rule].params) or "none"
            raise ConfigError(f"{policy.at('rules', rule, unknown[0])}: rule {rule} has no "
                              f"parameter {unknown[0]!r} (its parameters: {names})")
        for name, value in given.items():
            problem = _bad_parameter(rule, name, value)
            if problem:
                raise ConfigError(f"{policy.at('rules', rule, name)}: {problem}")
    for index, waiver in enumerate(policy.waivers):
        if waiver.rule not in rules.RULES:
            raise ConfigError(f"{policy.at('waivers', index, 'rule')}: unknown rule "
                              f"{waiver.rule!r}{suggest(waiver.rule, rules.RULES)}")
        if waiver.rule in rules.ENFORCED:
            _check_enforced(policy, index)
    severity: dict[str, Severity] = {}
    params: dict[str, Mapping[str, Any]] = {}
    for rid, known in rules.RULES.items():
        chosen = policy.severities.get(rid, known.severity)
        severity[rid] = chosen if chosen in ("error", "warning", "off") else known.severity  # type: ignore[assignment]
        if known.check is not None and severity[rid] != "off":
            params[rid] = {**known.params, **policy.params.get(rid, {})}
    return Settings(severity, params, operators.merged(policy.workloads))


_PATTERN = re.compile(r"[*?\[]")


def _check_enforced(policy: Policy, index: int) -> None:
    """A waiver of what the API server refuses names its objects and expires."""
    waiver = policy.waivers[index]
    missing = [key for key, given in (("packages", waiver.packages), ("objects", waiver.objects))
               if not given]
    if missing or waiver.expires is None:
        what = " and ".join([*missing, *(["expires"] if waiver.expires is None else [])])
        raise ConfigError(f"{policy.at('waivers', index)}: a waiver of {waiver.rule} lets objects "
                          "the API server rejects be published, so it must name them (packages "
                          f"and objects: Kind/name or Kind/namespace/name) and expire; add {what}")
    for key, given in (("packages", waiver.packages), ("objects", waiver.objects)):
        for i, value in enumerate(given):
            if _PATTERN.search(value):
                raise ConfigError(f"{policy.at('waivers', index, key, i)}: a waiver of {waiver.rule} "
                                  f"names each object it waives: {value!r} is a pattern; list the "
                                  "objects one by one")


def _bad_parameter(rule: str, name: str, value: Any) -> str | None:
    """What is wrong with a rule parameter's value (None: nothing)."""
    if (rule, name) == ("namespace-without-psa", "level") and value not in (None, *rules.PSA_LEVELS):
        return f"{value!r} is not a Pod Security level ({', '.join(rules.PSA_LEVELS)})"
    if (rule, name) == ("host-path", "allowedPaths") and not (
            isinstance(value, list) and all(isinstance(p, str) and p.startswith("/") for p in value)):
        return f"{value!r} is not a list of absolute paths (e.g. [/var/log])"
    return None


class _Template(NamedTuple):
    findings: tuple[Finding, ...]
    used: frozenset[int]  # waivers that applied
    waived: tuple[tuple[Finding, int], ...]  # of rules the API server enforces, by waiver


@dataclass(frozen=True)
class Hit:
    """A raw finding on one object of an output, before severities and waivers."""

    rule: str
    index: int  # of the resource in the package's output
    api_version: str
    field: str
    message: str


@dataclass(frozen=True)
class Checked:
    hits: tuple[Hit, ...]
    load: capacity.Load

    def dump(self) -> bytes:
        return json.dumps({"hits": [[h.rule, h.index, h.api_version, h.field, h.message] for h in self.hits],
                           "load": self.load.dump()}).encode()

    @classmethod
    def load_from(cls, raw: bytes) -> Checked:
        data = json.loads(raw)
        return cls(tuple(Hit(*h) for h in data["hits"]), capacity.Load.load(data["load"]))


class Validator:
    """Validates rendered clusters; holds the compiled schemas and the per-run memos."""

    def __init__(self, tree: Tree, inv: Inventory, policy: Policy, *, today: dt.date,
                 cache: Cache | None = None, schemas: Schemas | None = None,
                 engine: str = "") -> None:
        self._tree, self._inv, self._policy, self._today = tree, inv, policy, today
        self._cache = cache if cache is not None else NoCache()
        self._schemas = schemas if schemas is not None else Schemas()
        self._engine = engine
        self._settings = settle(policy)
        self._versions: dict[str, str] = {}
        self._crds: dict[str, CrdSchemas] = {}
        self._crd_digests: dict[tuple[int, ...], str] = {}
        self._crd_objects: dict[str, tuple[Resource, ...]] = {}
        self._crd_compiler = CrdCompiler()  # a CRD shared by clusters compiles once
        # (output, schema version, CRDs) → hits, from the cache?, objects checked
        self._checked: dict[tuple[int, str, str, tuple[str, ...]], tuple[Checked, bool, int]] = {}
        self._lines = Lines(self._read, self._files)
        self._setters = layers.Setters(self._read)
        self._layer_files: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._templates: dict[tuple[Any, ...], _Template] = {}
        self._unready: dict[tuple[Any, ...], list[webhooks.Unready]] = {}
        self._access: Any = None  # pipeline.access.policy.Judge, loaded only for an access: policy
        if policy.access:
            from pipeline.access import fleet as access_fleet
            from pipeline.access import policy as access_policy

            tenants = access_policy.AccessPolicy.of(policy.access)
            if tenants is not None:
                self._access = access_policy.Judge(tenants, access_fleet.Analyzer(inv, self._locate),
                                                   self._cache, engine)
        for name in sorted(inv.classes):  # a class hydrate has no schemas for: say so first
            self._version(name)

    def _read(self, path: str) -> bytes | None:
        """A repository file for a finding's line; ValueError for a path that is not one."""
        try:
            return self._tree.read(path) if self._tree.is_file(path) else None
        except PipelineError as e:
            raise ValueError(str(e)) from None

    def _files(self, folder: str) -> list[str]:
        """The files below a repository folder (a chart's, to find the templates it includes)."""
        try:
            return self._tree.files(folder) if self._tree.is_dir(folder) else []
        except PipelineError as e:
            raise ValueError(str(e)) from None

    def _version(self, class_name: str) -> str:
        found = self._versions.get(class_name)
        if found is None:
            cls = self._inv.classes[class_name]
            try:
                found = self._schemas.schema_version(cls.kubernetes_version)
            except ValueError as e:
                line = line_of(self._tree.read(cls.path), ("kubernetesVersion",)) \
                    if self._tree.is_file(cls.path) else None
                where = f"{cls.path}:{line}" if line else cls.path
                raise ConfigError(f"{where}: kubernetesVersion: {e}") from None
            self._versions[class_name] = found
        return found

    def _crd_digest(self, render: ClusterRender) -> str:
        """The digest of the CRDs rendered for the cluster (clusters share Resource objects,
        so this is worked out once per set of them)."""
        crds = tuple(r for p in render.packages for r in p.resources if (r.id.group, r.id.kind) == CRD)
        memo = tuple(id(r) for r in crds)
        digest = self._crd_digests.get(memo)
        if digest is None:
            digest = hashlib.sha256(b"\0".join(sorted(r.text for r in crds))).hexdigest()
            self._crd_digests[memo] = digest
            self._crd_objects.setdefault(digest, crds)
        return digest

    def _crd_schemas(self, digest: str) -> CrdSchemas:
        """The cluster's CRD schemas: parsed only when an output is checked (not cached)."""
        found = self._crds.get(digest)
        if found is None:
            found = self._crds[digest] = CrdSchemas.from_objects(
                [r.body for r in self._crd_objects[digest]], self._crd_compiler)
        return found

    def _check(self, pkg: PackageRender, version: str, crd_digest: str,
               enabled: tuple[str, ...] = ()) -> Checked:
        memo = (id(pkg.resources), version, crd_digest, enabled)
        found = self._checked.get(memo)
        if found is not None:
            return found[0]
        text = hashlib.sha256(b"\0".join(r.text for r in pkg.resources)).hexdigest()
        key = hashlib.sha256(json.dumps(["validate", VERSION, self._engine, version, crd_digest,
                                         sorted(enabled), self._settings.digest, text]).encode()).hexdigest()
        raw = self._cache.get(key)
        if raw is not None:
            checked, cached = Checked.load_from(raw), True
        else:
            checked = self._check_objects(pkg, version, self._crd_schemas(crd_digest), enabled)
            cached = False
            self._cache.put(key, checked.dump())
        self._checked[memo] = (checked, cached, len(pkg.resources))
        return checked

    def _check_objects(self, pkg: PackageRender, version: str, crds: CrdSchemas,
                       enabled: tuple[str, ...]) -> Checked:
        hits: list[Hit] = []
        demands: list[tuple[capacity.Ref, capacity.Demand]] = []
        scalers: list[capacity.Scaler] = []
        for index, res in enumerate(pkg.resources):
            body = res.body
            api = str(body.get("apiVersion", ""))
            applied = body
            if "sops" in body and (res.id.group, res.id.kind) == ("", "Secret"):
                # SOPS-encrypted: the agent (Flux, or Argo CD's SOPS plugin) decrypts it and
                # drops the sops section before it reaches the API server.
                applied = {k: v for k, v in body.items() if k != "sops"}
            for problem in self._schemas.check(version, applied, crds, enabled):
                hits.append(Hit(problem.rule, index, api, problem.path, problem.message))
            for rule, hit in rules.check(body, self._settings.params):
                hits.append(Hit(rule, index, api, hit.path, hit.message))
            rid = res.id
            need = capacity.demand(rid.group, rid.kind, body, self._settings.workloads)
            if need is not None:
                demands.append(((rid.namespace, rid.group, rid.kind, rid.name), need))
            scaler = capacity.scaler(rid.group, rid.kind, rid.namespace, body)
            if scaler is not None:
                scalers.append(scaler)
        return Checked(tuple(hits), capacity.total(demands, scalers))

    def _findings(self, render: ClusterRender, pkg: PackageRender, checked: Checked,
                  waivers: tuple[int, ...]) -> _Template:
        """The package's findings (clusters left empty), the waivers that applied and what
        they waived of the rules the API server enforces; the same for every cluster with
        this output and these waivers in scope."""
        layered = self._layered(render.cluster, pkg.name)
        memo = (id(checked), pkg.name, render.cluster.class_name, waivers, layered, pkg.unstable)
        found = self._templates.get(memo)
        if found is not None:
            return found
        used: set[int] = set()
        out: list[Finding] = []
        waived: list[tuple[Finding, int]] = []
        cls = self._inv.classes[render.cluster.class_name]
        for hit in checked.hits:
            severity = self._settings.severity.get(hit.rule, "error")
            if severity == "off":
                continue
            res = pkg.resources[hit.index]
            obj = ObjectRef(hit.api_version, res.id.kind, res.id.namespace, res.id.name)
            if hit.rule == "plaintext-secret" and self._inv.packages[pkg.name].allow_plaintext_secrets:
                continue  # the package's own waiver (allowPlaintextSecrets: true)
            waiver = self._waiver(waivers, hit.rule, pkg.name, obj)
            if waiver is not None and hit.rule not in rules.ENFORCED:
                used.add(waiver)
                continue
            message = hit.message
            if hit.rule == "api-not-served":
                message = f"class {cls.name}: {message}"
            source, related = self._where(res, hit, layered)
            finding = Finding(hit.rule, severity, message, pkg.name, obj, source, (), hit.field, related)
            if waiver is not None:
                used.add(waiver)
                waived.append((finding, waiver))
            else:
                out.append(finding)
        for finding in self._unstable(pkg):
            waiver = self._waiver(waivers, finding.rule, pkg.name, finding.object)
            if waiver is not None:
                used.add(waiver)
            else:
                out.append(finding)
        found = self._templates[memo] = _Template(tuple(out), frozenset(used), tuple(waived))
        return found

    def _unstable(self, pkg: PackageRender) -> list[Finding]:
        """`non-deterministic`: fields that differed between two renders of the chart input."""
        severity = self._settings.severity["non-deterministic"]
        if severity == "off":
            return []
        found = []
        for u in pkg.unstable:
            res = pkg.resources[u.position] if u.position >= 0 else None
            obj = ObjectRef(str(res.body.get("apiVersion", "")), res.id.kind, res.id.namespace, res.id.name) \
                if res is not None else None
            where = "" if res is not None else f"{u.object} (renamed by a Component): "
            source = self._lines.find(res.origin, res.id.kind, res.id.name, u.field, res.id.namespace) \
                if res is not None else None
            found.append(Finding(
                "non-deterministic", severity,
                f"{where}{u.field} differs between two renders of the same input (the chart calls "
                f"{', '.join(u.functions)}): each render, and a fresh CI cache, publishes a new value; "
                "give it a fixed value through the chart's values (an existing Secret, a fixed "
                "password or certificate)", pkg.name, obj, source, (), u.field))
        return found

    def _layered(self, cluster: Cluster, package: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The kustomizations whose patches apply to the package on the cluster, and its
        values files, in the order they apply (the package's own first)."""
        layers = self._inv.layers_of(cluster, package)
        key = (package, tuple(layer.path for layer in layers))
        found = self._layer_files.get(key)
        if found is None:
            pkg = self._inv.packages[package]
            patches = [f"{pkg.path}/{n}" for n in kustomizations.NAMES if pkg.type == "kustomize"
                       and self._tree.is_file(f"{pkg.path}/{n}")][:1]
            values = [f"{pkg.path}/values.yaml"] if pkg.type == "helm" and \
                self._tree.is_file(f"{pkg.path}/values.yaml") else []
            for layer in layers:
                patches += [f"{layer.path}/{f}" for f in layer.files
                            if f.removesuffix(".j2") in kustomizations.NAMES]
                if pkg.type == "helm":
                    values += [f"{layer.path}/{f}" for f in layer.files
                               if f.removesuffix(".j2") == "values.yaml"]
            found = self._layer_files[key] = (tuple(patches), tuple(values))
        return found

    def _where(self, res: Resource, hit: Hit,
               layered: tuple[tuple[str, ...], tuple[str, ...]]) -> tuple[Source | None, tuple[Source, ...]]:
        """The finding's source and related locations: the line in the file that produced
        the object, unless a layer set the field (then that layer's line, and the object's
        line as related)."""
        rid = res.id
        body = res.body if "[" in hit.field else None
        trace = self._lines.trace(res.origin, rid.kind, rid.name, hit.field, rid.namespace, body)
        base = trace.source if trace is not None else None
        if not hit.field or not (layered[0] or layered[1]):
            return base, ()
        version = hit.api_version.rpartition("/")[2]
        obj = layers.Object(rid.group, version, rid.kind, rid.namespace, rid.name, lambda: res.body)
        names = item_names(res.body, hit.field) if "[" in hit.field else {}
        setter = self._setters.find(obj, hit.field, trace, names, *layered)
        if setter is None or setter == base:
            return base, ()
        return setter, (base,) if base is not None else ()

    def _waiver(self, scoped: tuple[int, ...], rule: str, package: str | None,
                obj: ObjectRef | None) -> int | None:
        for index in scoped:
            w = self._policy.waivers[index]
            if w.rule == rule and w.covers_object(package, obj.kind if obj else None,
                                                  obj.namespace if obj else "",
                                                  obj.name if obj else None):
                return index
        return None

    def run(self, renders: Sequence[ClusterRender], *, whole_fleet: bool) -> Report:
        """The findings for `renders`; `whole_fleet`: every cluster is there, so a waiver
        nothing used is worth a warning."""
        start = time.monotonic()
        live = tuple(i for i, w in enumerate(self._policy.waivers) if not w.lapsed(self._today))
        used: set[int] = set()
        found: list[Finding] = []
        where: dict[Finding, list[str]] = {}  # a package finding → the clusters that have it
        waived: dict[tuple[Finding, int], list[str]] = {}
        capacities: dict[str, dict[str, float]] = {}
        usage: list[Usage] = []
        for render in renders:
            cluster = render.cluster
            version = self._version(cluster.class_name)
            crd_digest = self._crd_digest(render)
            scoped = tuple(i for i in live if self._policy.waivers[i].covers_cluster(
                cluster.name, cluster.class_name, cluster.site))
            loads: list[capacity.Load] = []
            for pkg in render.packages:
                checked = self._check(pkg, version, crd_digest, self._inv.api_versions(cluster))
                loads.append(checked.load)
                template = self._findings(render, pkg, checked, scoped)
                used.update(template.used)
                for finding in template.findings:  # clusters are gathered, not copied into findings
                    where.setdefault(finding, []).append(cluster.name)
                for pair in template.waived:
                    waived.setdefault(pair, []).append(cluster.name)
            cls = self._inv.classes[cluster.class_name]
            if cls.name not in capacities:
                capacities[cls.name] = capacity.capacity_of(cls)
            use = capacity.usage(cluster.name, cls, loads, capacities[cls.name])
            usage.append(use)
            found.extend(self._cluster_findings(render, use, scoped, used))
            found.extend(self._webhook_findings(render, scoped, used))
            if self._access is not None:
                found.extend(self._access_findings(render, scoped, used))
        found.extend(replace(f, clusters=tuple(names)) for f, names in where.items())
        found.extend(self._waiver_findings(used, whole_fleet))
        accepted = tuple(
            Waived(f, f"{self._policy.path}:{self._policy.waivers[i].line}", self._policy.waivers[i].reason)
            for i in sorted({i for _, i in waived})
            for f in merge(replace(f, clusters=tuple(names)) for (f, j), names in waived.items() if j == i))
        return Report(merge(found), tuple(usage), len(renders),
                      sum(n for _, _, n in self._checked.values()), time.monotonic() - start,
                      sum(1 for _, cached, _ in self._checked.values() if cached),
                      len(self._checked), accepted)

    def _cluster_findings(self, render: ClusterRender, use: Usage, scoped: tuple[int, ...],
                          used: set[int]) -> list[Finding]:
        """Capacity and required packages: judged per cluster, not per object."""
        cluster = render.cluster
        found: list[Finding] = []
        judged = capacity.message(use)
        setting = self._settings.severity["capacity"]
        if judged is not None and setting != "off":
            over, message = judged
            waiver = self._waiver(scoped, "capacity", None, None)
            if waiver is None:
                # The source is the class's capacity: where the number that was exceeded lives.
                cls = self._inv.classes[cluster.class_name]
                text = self._tree.read(cls.path) if self._tree.is_file(cls.path) else b""
                found.append(Finding("capacity", "error" if over and setting == "error" else "warning",
                                     message, None, None, Source(cls.path, line_of(text, ("capacity",)) or 1),
                                     (cluster.name,)))
            else:
                used.add(waiver)
        severity = self._settings.severity["required-package"]
        running = {p.name for p in render.packages}
        for index, name in enumerate(self._policy.required):
            if name in running or severity == "off":
                continue
            waiver = self._waiver(scoped, "required-package", name, None)
            if waiver is not None:
                used.add(waiver)
                continue
            found.append(Finding("required-package", severity,
                                 f"the policy requires package {name} on every cluster; these "
                                 f"clusters do not run it (class {cluster.class_name}, and the "
                                 "cluster's packages: add/remove)", name, None,
                                 self._policy_line("required", index), (cluster.name,)))
        return found

    def _webhook_findings(self, render: ClusterRender, scoped: tuple[int, ...],
                          used: set[int]) -> list[Finding]:
        """Objects a webhook rendered with them must admit before it is ready: judged per
        distinct set of package outputs (clusters share them)."""
        severity = self._settings.severity["webhook-not-ready"]
        if severity == "off":
            return []
        memo = tuple((p.name, p.wave, id(p.resources)) for p in render.packages)
        unready = self._unready.get(memo)
        if unready is None:
            unready = self._unready[memo] = webhooks.unready(render.packages)
        found: list[Finding] = []
        for item in unready:
            res = item.placed.resource
            obj = ObjectRef(str(res.body.get("apiVersion", "")), res.id.kind, res.id.namespace,
                            res.id.name)
            waiver = self._waiver(scoped, "webhook-not-ready", item.placed.package, obj)
            if waiver is not None:
                used.add(waiver)
                continue
            found.append(Finding("webhook-not-ready", severity, item.message, item.placed.package,
                                 obj, self._lines.find(res.origin, res.id.kind, res.id.name, "",
                                                       res.id.namespace),
                                 (render.cluster.name,)))
        return found

    def _locate(self, origin: str | None, kind: str, name: str, field: str,
                namespace: str = "") -> tuple[str, int] | None:
        found = self._lines.find(origin, kind, name, field, namespace)
        return (found.path, found.line) if found is not None else None

    def _access_findings(self, render: ClusterRender, scoped: tuple[int, ...],
                         used: set[int]) -> list[Finding]:
        """The tenant policy's violations (fleet/policy.yaml `access:`) by the cluster's bindings."""
        assert self._access is not None
        found: list[Finding] = []
        for hit in self._access.hits(render):
            severity = self._settings.severity[hit.rule]
            obj = ObjectRef("rbac.authorization.k8s.io/v1", hit.kind, hit.namespace, hit.name)
            waiver = self._waiver(scoped, hit.rule, hit.package, obj)
            if waiver is not None:
                used.add(waiver)
            elif severity != "off":
                found.append(Finding(hit.rule, severity, hit.message, hit.package, obj,
                                     Source(hit.path, hit.line) if hit.path else None,
                                     (render.cluster.name,)))
        return found

    def _policy_line(self, *key: str | int) -> Source | None:
        doc = self._policy.document
        if doc is None:
            return None
        return Source(doc.path, line_of(doc.text, key) or 1)

    def _waiver_findings(self, used: set[int], whole_fleet: bool) -> list[Finding]:
        found: list[Finding] = []
        for index, w in enumerate(self._policy.waivers):
            source = Source(self._policy.path or "fleet/policy.yaml", w.line)
            if w.lapsed(self._today):
                severity = self._settings.severity["waiver-expired"]
                if severity != "off":
                    found.append(Finding("waiver-expired", severity,
                                         f"the waiver of {w.rule} ({w.reason}) expired on "
                                         f"{w.expires}; fix what it waived, or "
                                         "extend it with a new reason", None, None, source, ()))
            elif whole_fleet and index not in used:
                severity = self._settings.severity["waiver-unused"]
                if severity != "off":
                    found.append(Finding("waiver-unused", severity,
                                         f"the waiver of {w.rule} ({w.reason}) matches no "
                                         "finding; remove it", None, None, source, ()))
        return found
