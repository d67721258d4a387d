"""hydrate's rules: stable ids, default severities, and for the object rules a check in
plain Python over the parsed object (a few milliseconds per thousand objects).

Defaults follow one principle: what the API server or the cluster would reject anyway is
an error; opinions are warnings until fleet/policy.yaml raises them. Where the usual
linters differ, the checks judge these fields as Pod Security's restricted level does:
privilege escalation is allowed unless `allowPrivilegeEscalation: false` is set (checkov
and kubeaudit agree; kube-linter and Polaris only flag an explicit true), and only
`runAsNonRoot: true` proves a container does not run as root (Polaris also accepts a
non-zero runAsUser).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pipeline.access.rules import RULES as _ACCESS_RULES
from pipeline.validate.podspec import POD_SPECS, Pod, View, dig, folders, image_tag, is_map, view, within

Severity = Literal["error", "warning", "off"]


@dataclass(frozen=True)
class Hit:
    message: str  # one sentence that points at the fix
    path: str  # the field, dotted with [i]; "" for the object as a whole


Check = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    short: str
    full: str
    help: str
    check: Check | None = None  # None: judged elsewhere (schemas, capacity, waivers)
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_Run = Callable[[View, Mapping[str, Any]], Iterable[Hit]]


@dataclass(frozen=True)
class _Impl:
    """An object rule's check: the (group, kind)s it reads and its function. Called with
    (object, params) it is the rule's public check; `check` calls `run` on a shared view."""

    kinds: frozenset[tuple[str, str]]
    run: _Run

    def __call__(self, body: Mapping[str, Any], params: Mapping[str, Any]) -> Iterable[Hit]:
        obj = view(body)
        return self.run(obj, params) if obj.gk in self.kinds else ()


def _on(*kinds: tuple[str, str]) -> Callable[[_Run], _Impl]:
    return lambda run: _Impl(frozenset(kinds), run)


def _per_pod(check: Callable[[Pod, Mapping[str, Any]], Iterator[Hit]]) -> _Impl:
    def run(obj: View, params: Mapping[str, Any]) -> Iterable[Hit]:
        return check(obj.pod, params) if obj.pod is not None else ()
    return _Impl(frozenset(POD_SPECS), run)


# A value SOPS encrypted: ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>].
_SOPS_VALUE = re.compile(
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]")
_INDEX = re.compile(r"\[(\d+)\]")
_SHOWN = 5
PSA_LEVELS = ("privileged", "baseline", "restricted")
# What the API server itself refuses: a waiver of these publishes objects that cannot be
# applied, so it must name them, expire, and be counted in every report.
ENFORCED = frozenset({"schema", "api-not-served"})
RBAC = "rbac.authorization.k8s.io"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


@_on(("", "Secret"))
def plaintext_secret(obj: View, _params: Mapping[str, Any]) -> Iterator[Hit]:
    """A core Secret with a value in `data` or `stringData` that is not SOPS-encrypted. A
    `sops:` section proves nothing (anyone can write one, and SOPS leaves the keys that
    `unencrypted_regex` and the like name in clear): every value is judged."""
    for name in ("data", "stringData"):
        values = obj.body.get(name)
        if not values:
            continue
        if not is_map(values):
            yield Hit(f"{name} is not a mapping of encrypted values", name)
            continue
        plain = sorted(str(k) for k, v in values.items()
                       if not (isinstance(v, str) and _SOPS_VALUE.fullmatch(v)))
        if plain:  # the keys only: a finding is printed, and a value never may be
            yield Hit(f"{name} holds plaintext values ({_names(plain)}): use SealedSecrets, "
                      "External Secrets or SOPS-encrypted values (ENC[...])", name)


@_per_pod
def latest_tag(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for c in pod.containers:
        image = c.data.get("image")
        if not isinstance(image, str) or not image:
            continue  # no image at all is the API server's to reject
        tag = image_tag(image)
        if tag is None:
            yield Hit(f"{c.label} image {image!r} has no tag: pin a version or a digest",
                      f"{c.path}.image")
        elif tag == "latest":
            yield Hit(f"{c.label} image {image!r} uses the latest tag: pin a version or a "
                      "digest", f"{c.path}.image")


@_per_pod
def missing_requests(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for c in pod.containers:
        if c.ephemeral:
            continue  # the API forbids resources on ephemeral containers
        requests, limits = c.resources.get("requests"), c.resources.get("limits")
        # A limit without a request is the request too (Kubernetes defaults it so).
        missing = [r for r in ("cpu", "memory") if dig(requests, r) is None and dig(limits, r) is None]
        if missing:
            yield Hit(f"{c.label} requests no {' and no '.join(missing)}: the scheduler "
                      "cannot place it with care, and capacity cannot count it",
                      f"{c.path}.resources")


@_per_pod
def missing_memory_limit(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for c in pod.containers:
        if not c.ephemeral and dig(c.resources.get("limits"), "memory") is None:
            yield Hit(f"{c.label} has no memory limit: a leak takes the node's memory "
                      "from every other pod", f"{c.path}.resources")


@_per_pod
def privileged(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for c in pod.containers:
        if c.security.get("privileged") is True:
            yield Hit(f"{c.label} runs privileged: it holds every capability of the host",
                      f"{c.path}.securityContext.privileged")


@_per_pod
def host_namespaces(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for key, what in (("hostNetwork", "network"), ("hostPID", "process"), ("hostIPC", "IPC")):
        if pod.spec.get(key) is True:
            yield Hit(f"the pod shares the host's {what} namespace ({key}: true)",
                      f"{pod.path}.{key}")


@_per_pod
def host_path(pod: Pod, params: Mapping[str, Any]) -> Iterator[Hit]:
    volumes = pod.spec.get("volumes")
    if not isinstance(volumes, list):
        return
    allowed: tuple[str, ...] | None = None
    for index, volume in enumerate(volumes):
        source = dig(volume, "hostPath")
        if not is_map(source):
            continue
        if allowed is None:  # only worked out for the few pods with a hostPath
            allowed = folders(params.get("allowedPaths"))
        path = source.get("path")
        path = path if isinstance(path, str) else ""
        if within(path, allowed):
            continue
        name = volume.get("name")
        yield Hit(f"{f'volume {name!r}' if isinstance(name, str) else 'a volume'} mounts the "
                  f"host's {path or 'filesystem'}", f"{pod.path}.volumes[{index}].hostPath")


@_per_pod
def privilege_escalation(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    if dig(pod.spec, "os", "name") == "windows":
        return  # the API forbids allowPrivilegeEscalation on Windows pods
    for c in pod.containers:
        if c.security.get("privileged") is True:
            yield Hit(f"{c.label} is privileged, which allows privilege escalation",
                      f"{c.path}.securityContext.privileged")
        elif c.security.get("allowPrivilegeEscalation") is not False:  # unset means true
            yield Hit(f"{c.label} may gain more privileges than its parent process: set "
                      "securityContext.allowPrivilegeEscalation: false",
                      f"{c.path}.securityContext")


@_per_pod
def run_as_root(pod: Pod, _params: Mapping[str, Any]) -> Iterator[Hit]:
    for c in pod.containers:
        # The container's own setting wins over the pod's, as the kubelet applies them.
        user = c.security.get("runAsUser")
        user = pod.security.get("runAsUser") if user is None else user
        non_root = c.security.get("runAsNonRoot")
        non_root = pod.security.get("runAsNonRoot") if non_root is None else non_root
        if type(user) is int and user == 0:  # not False, which equals 0
            yield Hit(f"{c.label} runs as root (runAsUser: 0)", f"{c.path}.securityContext")
        elif non_root is not True:
            yield Hit(f"{c.label} may run as root: set runAsNonRoot: true (on the pod or "
                      "the container)", f"{c.path}.securityContext")


def _subject(subject: Any) -> str:
    kind, name, namespace = (dig(subject, k) for k in ("kind", "name", "namespace"))
    who = f"{namespace}/{name}" if namespace else f"{name}"
    return f"{kind} {who}" if kind else who


@_on((RBAC, "ClusterRoleBinding"), (RBAC, "RoleBinding"))
def cluster_admin_binding(obj: View, _params: Mapping[str, Any]) -> Iterator[Hit]:
    ref = obj.body.get("roleRef")
    if dig(ref, "kind") == "ClusterRole" and dig(ref, "name") == "cluster-admin":
        subjects = obj.body.get("subjects")
        names = [_subject(s) for s in subjects if is_map(s)] if isinstance(subjects, list) else []
        yield Hit(f"grants cluster-admin to {_names(names) if names else 'no subject'}: bind "
                  "a role with only what they need", "roleRef")


def _covered(host: str, covered: set[str]) -> bool:
    if host in covered:
        return True
    # A wildcard covers one label: *.shop.example.com covers a.shop.example.com only.
    first, dot, rest = host.partition(".")
    return bool(first and dot) and f"*.{rest}" in covered


@_on(("networking.k8s.io", "Ingress"))
def ingress_without_tls(obj: View, _params: Mapping[str, Any]) -> Iterator[Hit]:
    spec = obj.body.get("spec")
    tls = dig(spec, "tls")
    if not isinstance(tls, list) or not tls:
        yield Hit("serves plain HTTP: add spec.tls (e.g. with a cert-manager issuer)", "spec")
        return
    covered: set[str] = set()
    for entry in tls:
        hosts = dig(entry, "hosts")
        if is_map(entry) and not hosts:
            return  # no hosts: the controller's default certificate serves every host
        if isinstance(hosts, list):
            covered.update(h for h in hosts if isinstance(h, str))
    rules = dig(spec, "rules")
    served = [dig(r, "host") for r in rules] if isinstance(rules, list) else []
    missing = sorted({h for h in served if isinstance(h, str) and h and not _covered(h, covered)})
    if missing:
        yield Hit(f"hosts without TLS: {_names(missing)}: add them to spec.tls", "spec.tls")


@_on(("", "Namespace"))
def namespace_without_psa(obj: View, params: Mapping[str, Any]) -> Iterator[Hit]:
    level = dig(obj.body, "metadata", "labels", "pod-security.kubernetes.io/enforce")
    wanted = params.get("level")
    if level is None:
        yield Hit("has no Pod Security label: set pod-security.kubernetes.io/enforce "
                  f"({wanted or 'restricted or baseline'})", "metadata.labels")
    elif wanted in PSA_LEVELS and (level not in PSA_LEVELS
                                   or PSA_LEVELS.index(level) < PSA_LEVELS.index(wanted)):
        yield Hit(f"enforces Pod Security level {level!r}; the policy asks for {wanted!r}",
                  "metadata.labels")


@_on(("helm.toolkit.fluxcd.io", "HelmRelease"), ("argoproj.io", "Application"),
     ("argoproj.io", "ApplicationSet"))
def unrendered_release(obj: View, _params: Mapping[str, Any]) -> Iterator[Hit]:
    spec = obj.body.get("spec")
    if obj.gk[1] == "HelmRelease":
        chart = dig(spec, "chart", "spec", "chart") or dig(spec, "chartRef", "name") or "its chart"
        yield Hit(f"asks Flux to render {chart} on the cluster, so its objects are in no render, "
                  "diff or validation: hydrate renders charts itself; vendor the chart into "
                  "bases/<package>/chart, make that a package of type helm with spec.values as its "
                  "values.yaml, and drop the HelmRelease (docs/guides.md: adopt a Flux repository)",
                  "spec.chart")
        return
    sources = dig(spec, "sources") if obj.gk[1] == "Application" else None
    source = (sources[0] if isinstance(sources, list) and sources else
              dig(spec, "source") if obj.gk[1] == "Application" else dig(spec, "template", "spec", "source"))
    what = " ".join(str(x) for x in (dig(source, "repoURL"), dig(source, "chart") or dig(source, "path"))
                    if x) or "its source"
    yield Hit(f"asks Argo CD to render {what} on the cluster, so its objects are in no render, diff "
              "or validation: hydrate renders charts and kustomizations itself; make each app a "
              "package in bases/ (a vendored chart or base) and drop the "
              f"{obj.gk[1]} (docs/guides.md: adopt an Argo CD app-of-apps)",
              "spec.source" if obj.gk[1] == "Application" else "spec.template")


_WAIVE = "Waive it in fleet/policy.yaml (waivers: rule, scope, reason) or change its severity there."
RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in (
    Rule("schema", "error", "Object does not match its schema",
         "The object has an unknown field or a value of the wrong type for the OpenAPI schema of "
         "its cluster class's Kubernetes version (or of its CRD): the API server would reject it.",
         "Fix the field named in the finding, at the line it points to."),
    Rule("api-not-served", "error", "API version not served by the cluster's Kubernetes",
         "The class's kubernetesVersion (or the CRD) does not serve this apiVersion: the object "
         "cannot be applied there.", "Move the object to the API version the message names."),
    Rule("unknown-kind", "warning", "No schema for this kind",
         "The kind is not built into the class's Kubernetes and no CRD for it is rendered for the "
         "same cluster, so it cannot be checked (and may not apply).",
         "Render the CRD with the cluster (a package that provides it), or fix the apiVersion/kind."),
    Rule("plaintext-secret", "error", "Secret with plaintext values",
         "A Secret's data or stringData holds values that are not SOPS-encrypted: they would be "
         "committed to the environment branch in clear.",
         "Use SealedSecrets, External Secrets or SOPS-encrypted values; or, for a package that "
         "must, allowPlaintextSecrets: true in its package.yaml.", plaintext_secret),
    Rule("latest-tag", "warning", "Image without a pinned tag",
         "An image without a tag or with :latest changes under the cluster without a commit: "
         "rollouts stop being reproducible and rollbacks stop rolling back.",
         f"Pin a version tag or a digest. {_WAIVE}", latest_tag),
    Rule("missing-requests", "warning", "Container without CPU or memory requests",
         "Without requests the scheduler places pods blindly and capacity planning cannot count "
         "them.", f"Set resources.requests.cpu and .memory. {_WAIVE}", missing_requests),
    Rule("missing-memory-limit", "warning", "Container without a memory limit",
         "A container without a memory limit can take the node's memory from every other pod.",
         f"Set resources.limits.memory. {_WAIVE}", missing_memory_limit),
    Rule("privileged", "warning", "Privileged container",
         "A privileged container has every capability of the host: one compromise is the node's.",
         f"Drop privileged; add only the capabilities it needs. {_WAIVE}", privileged),
    Rule("host-namespaces", "warning", "Pod shares host namespaces",
         "hostNetwork, hostPID or hostIPC let the pod see and reach the host's network, processes "
         "or IPC.", f"Remove them unless the workload is a node agent. {_WAIVE}", host_namespaces),
    Rule("host-path", "warning", "hostPath volume",
         "A hostPath volume exposes the node's filesystem to the pod.",
         f"Use another volume type; parameter allowedPaths lists accepted path prefixes. {_WAIVE}",
         host_path, MappingProxyType({"allowedPaths": ()})),
    Rule("privilege-escalation", "warning", "Privilege escalation allowed",
         "Unless allowPrivilegeEscalation is false, a process can gain more privileges than its "
         "parent (setuid binaries).",
         f"Set securityContext.allowPrivilegeEscalation: false. {_WAIVE}", privilege_escalation),
    Rule("run-as-root", "warning", "Container may run as root",
         "Neither the container nor the pod sets runAsNonRoot: true (or runAsUser is 0).",
         f"Set runAsNonRoot: true and a non-zero runAsUser. {_WAIVE}", run_as_root),
    Rule("cluster-admin-binding", "warning", "Binding to cluster-admin",
         "A (Cluster)RoleBinding grants cluster-admin: everything, everywhere in the cluster.",
         f"Bind a role with only the rights needed. {_WAIVE}", cluster_admin_binding),
    Rule("ingress-without-tls", "warning", "Ingress without TLS",
         "An Ingress without spec.tls (or with hosts not covered by it) serves plain HTTP.",
         f"Add spec.tls for every host. {_WAIVE}", ingress_without_tls),
    Rule("namespace-without-psa", "warning", "Namespace without Pod Security admission",
         "A Namespace without the pod-security.kubernetes.io/enforce label lets any pod in; "
         "parameter level asks for at least that level.",
         f"Label it pod-security.kubernetes.io/enforce: restricted (or baseline). {_WAIVE}",
         namespace_without_psa, MappingProxyType({"level": None})),
    Rule("unrendered-release", "warning", "A Flux HelmRelease or Argo CD Application in a package",
         "The object asks the cluster's agent to render a chart or a path itself, so what it makes "
         "is in no hydrated render, diff or validation: it passes through hydrate opaque.",
         f"Make what it renders a package of its own (docs/guides.md). {_WAIVE}",
         unrendered_release),
    Rule("capacity", "error", "Requests exceed the class's capacity",
         "The cluster's requests (replicas × containers, DaemonSets × nodes) exceed its class's "
         "capacity (error over 100 %, warning over 80 %): pods would stay Pending.",
         "Lower requests or replicas for the class, or raise the class's capacity if the "
         "hardware has it."),
    Rule("required-package", "error", "A required package is missing",
         "fleet/policy.yaml requires packages on every cluster (e.g. the security scanner, the "
         "monitoring agent); this cluster's class does not run one of them.",
         "Add the package to the class (or the cluster), or waive it for the cluster with a reason."),
    Rule("webhook-not-ready", "warning", "Object applied before the webhook that admits it is ready",
         "An admission webhook with failurePolicy Fail intercepts the object, and the object is "
         "applied after the webhook's configuration but in the sync wave that creates the "
         "webhook's Service (or before it): on a new cluster the webhook's pods are not ready "
         "yet, the API server refuses the object and the sync fails until the agent retries.",
         "Move the object to a package that depends on the webhook's package (a later wave). "
         f"{_WAIVE}"),
    Rule("waiver-expired", "error", "Expired waiver",
         "A waiver in fleet/policy.yaml is past its expires date: it no longer waives anything.",
         "Fix what it waived and remove it, or extend it with a new reason and date."),
    Rule("non-deterministic", "error", "Output that changes from render to render",
         "The chart calls a function whose result is not a function of its input (randAlphaNum, "
         "genCA, uuidv4, now, ...) and this field differed between two renders of the same input: "
         "what is published depends on which render the cache kept, and a fresh CI cache rotates "
         "it on every publish.",
         "Give the field a fixed value through the chart's values (an existing Secret, e.g. "
         f"existingSecret; a fixed password or certificate from your secret store). {_WAIVE}"),
    Rule("waiver-unused", "warning", "Unused waiver",
         "A waiver in fleet/policy.yaml matches no finding of the whole fleet.",
         "Remove it (what it waived is fixed), or correct its scope."),
)})


# The tenant policy's rules (fleet/policy.yaml `access:`), judged by pipeline.access.policy.
RULES = MappingProxyType({**RULES, **{spec[0]: Rule(*spec) for spec in _ACCESS_RULES}})  # type: ignore[arg-type]


def _by_kind() -> Mapping[tuple[str, str], tuple[tuple[str, _Run], ...]]:
    """(group, kind) → the object rules that read it, in rule order: one lookup per object."""
    found: dict[tuple[str, str], list[tuple[str, _Run]]] = {}
    for rule in RULES.values():
        if isinstance(rule.check, _Impl):
            for gk in rule.check.kinds:
                found.setdefault(gk, []).append((rule.id, rule.check.run))
    return MappingProxyType({gk: tuple(runs) for gk, runs in found.items()})


_BY_KIND = _by_kind()


def _path_order(hit: Hit) -> tuple[str | int, ...]:
    # containers[10] after containers[9]: indices compare as numbers.
    return tuple(int(p) if i % 2 else p for i, p in enumerate(_INDEX.split(hit.path)))


def check(body: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Hit]]:
    """The object rules whose ids are keys of `params` (rule id → its parameters, merged
    with the defaults), run on one object: (rule id, hit) in rule order, then path order."""
    obj = view(body)
    found: list[tuple[str, Hit]] = []
    for rid, run in _BY_KIND.get(obj.gk, ()):
        given = params.get(rid)
        if given is None:
            continue
        hits = list(run(obj, given))
        if hits:  # most objects pass most rules: nothing to sort or add
            if len(hits) > 1:
                hits.sort(key=_path_order)
            found.extend((rid, hit) for hit in hits)
    return found
