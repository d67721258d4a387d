"""hydrate's rules: stable ids, default severities, and for the object rules a check in
plain Python over the parsed object (fast: a few milliseconds per thousand objects).

Defaults follow one principle: what the API server or the cluster would reject anyway is
an error; opinions are warnings until fleet/policy.yaml raises them. The checks take what
kube-linter, Polaris and checkov agree on (e.g. privilege escalation counts as allowed
unless `allowPrivilegeEscalation: false` is set, as Polaris and kube-linter's
`privilege-escalation-container` treat it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pipeline.validate.podspec import containers, dig, group_kind, pod_spec

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
    params: Mapping[str, Any] = field(default_factory=dict)


# A value SOPS encrypted: ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>].
_SOPS_VALUE = re.compile(
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]")
_SHOWN = 5
PSA_LEVELS = ("privileged", "baseline", "restricted")


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def plaintext_secret(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    """A core Secret with a value in `data` or `stringData` that is not SOPS-encrypted. A
    `sops:` section proves nothing (anyone can write one, and SOPS leaves the keys that
    `unencrypted_regex` and the like name in clear): every value is judged."""
    if group_kind(body) != ("", "Secret"):
        return
    for name in ("data", "stringData"):
        values = body.get(name)
        if not values:
            continue
        if not isinstance(values, Mapping):
            yield Hit(f"{name} is not a mapping of encrypted values", name)
            continue
        plain = sorted(str(k) for k, v in values.items()
                       if not (isinstance(v, str) and _SOPS_VALUE.fullmatch(v)))
        if plain:
            yield Hit(f"{name} holds plaintext values ({_names(plain)}): use SealedSecrets, "
                      "External Secrets or SOPS-encrypted values (ENC[...])", name)


def _image_tag(image: str) -> str | None:
    """The tag of an image reference; "" for a digest (pinned), None for no tag."""
    if "@" in image:
        return ""
    last = image.rsplit("/", 1)[-1]  # a registry's port ("reg:5000/app") is no tag
    return last.split(":", 1)[1] if ":" in last else None


def latest_tag(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for c in containers(spec, base):
            image = c.get("image")
            if not isinstance(image, str):
                continue
            tag = _image_tag(image)
            if tag is None:
                yield Hit(f"{c.label} image {image!r} has no tag: pin a version or a digest",
                          f"{c.path}.image")
            elif tag == "latest":
                yield Hit(f"{c.label} image {image!r} uses the latest tag: pin a version or a "
                          "digest", f"{c.path}.image")


def missing_requests(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for c in containers(spec, base):
            if c.path.split(".")[-1].startswith("ephemeralContainers"):
                continue  # ephemeral containers take no resources
            requests = c.get("resources", "requests")
            have = requests if isinstance(requests, Mapping) else {}
            missing = [r for r in ("cpu", "memory") if r not in have]
            if missing:
                yield Hit(f"{c.label} requests no {' and no '.join(missing)}: the scheduler "
                          "cannot place it with care, and capacity cannot count it",
                          f"{c.path}.resources")


def missing_memory_limit(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for c in containers(spec, base):
            if c.path.split(".")[-1].startswith("ephemeralContainers"):
                continue
            if dig(c.get("resources", "limits"), "memory") is None:
                yield Hit(f"{c.label} has no memory limit: a leak takes the node's memory "
                          "from every other pod", f"{c.path}.resources")


def privileged(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for c in containers(spec, base):
            if c.get("securityContext", "privileged") is True:
                yield Hit(f"{c.label} runs privileged: it holds every capability of the host",
                          f"{c.path}.securityContext.privileged")


def host_namespaces(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for key, what in (("hostNetwork", "network"), ("hostPID", "process"), ("hostIPC", "IPC")):
            if spec.get(key) is True:
                yield Hit(f"the pod shares the host's {what} namespace ({key}: true)",
                          f"{base}.{key}")


def host_path(body: Mapping[str, Any], params: Mapping[str, Any]) -> Iterator[Hit]:
    allowed = tuple(str(p).rstrip("/") for p in params.get("allowedPaths") or ())
    for spec, base in _pods(body):
        volumes = spec.get("volumes")
        for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
            path = dig(volume, "hostPath", "path")
            if path is None and not isinstance(dig(volume, "hostPath"), Mapping):
                continue
            text = str(path or "")
            if any(text == a or text.startswith(a + "/") for a in allowed if a):
                continue
            name = dig(volume, "name")
            yield Hit(f"volume {name!r} mounts the host's {text or 'filesystem'}",
                      f"{base}.volumes[{index}].hostPath")


def privilege_escalation(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        for c in containers(spec, base):
            context = c.get("securityContext")
            if c.get("securityContext", "privileged") is True:
                yield Hit(f"{c.label} is privileged, which allows privilege escalation",
                          f"{c.path}.securityContext.privileged")
            elif dig(context, "allowPrivilegeEscalation") is not False:
                yield Hit(f"{c.label} may gain more privileges than its parent process: set "
                          "securityContext.allowPrivilegeEscalation: false",
                          f"{c.path}.securityContext")


def run_as_root(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    for spec, base in _pods(body):
        pod = spec.get("securityContext")
        for c in containers(spec, base):
            own = c.get("securityContext")
            user = dig(own, "runAsUser")
            user = dig(pod, "runAsUser") if user is None else user
            non_root = dig(own, "runAsNonRoot")
            non_root = dig(pod, "runAsNonRoot") if non_root is None else non_root
            if user == 0:
                yield Hit(f"{c.label} runs as root (runAsUser: 0)", f"{c.path}.securityContext")
            elif non_root is not True:
                yield Hit(f"{c.label} may run as root: set runAsNonRoot: true (on the pod or "
                          "the container)", f"{c.path}.securityContext")


def cluster_admin_binding(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    group, kind = group_kind(body)
    if group != "rbac.authorization.k8s.io" or kind not in ("ClusterRoleBinding", "RoleBinding"):
        return
    ref = body.get("roleRef")
    if dig(ref, "kind") == "ClusterRole" and dig(ref, "name") == "cluster-admin":
        subjects = body.get("subjects")
        names = [f"{dig(s, 'kind')} {dig(s, 'name')}" for s in
                 (subjects if isinstance(subjects, list) else [])]
        yield Hit(f"grants cluster-admin to {_names(names) if names else 'no subject'}: bind "
                  "a role with only what they need", "roleRef")


def ingress_without_tls(body: Mapping[str, Any], _params: Mapping[str, Any]) -> Iterator[Hit]:
    if group_kind(body) != ("networking.k8s.io", "Ingress"):
        return
    spec = body.get("spec")
    tls = dig(spec, "tls")
    if not isinstance(tls, list) or not tls:
        yield Hit("serves plain HTTP: add spec.tls (e.g. with a cert-manager issuer)", "spec")
        return
    covered = {str(h) for entry in tls for h in (dig(entry, "hosts") or [])
               if isinstance(dig(entry, "hosts"), list)}
    rules = dig(spec, "rules")
    hosts = sorted({str(dig(r, "host")) for r in (rules if isinstance(rules, list) else [])
                    if dig(r, "host")})
    missing = [h for h in hosts if h not in covered
               and not any(c.startswith("*.") and h.endswith(c[1:]) and h.count(".") == c.count(".")
                           for c in covered)]
    if missing:
        yield Hit(f"hosts without TLS: {_names(missing)}: add them to spec.tls", "spec.tls")


def namespace_without_psa(body: Mapping[str, Any], params: Mapping[str, Any]) -> Iterator[Hit]:
    if group_kind(body) != ("", "Namespace"):
        return
    labels = dig(body, "metadata", "labels")
    level = dig(labels, "pod-security.kubernetes.io/enforce")
    wanted = params.get("level")
    if level is None:
        yield Hit("has no Pod Security label: set pod-security.kubernetes.io/enforce "
                  f"({wanted or 'restricted or baseline'})", "metadata.labels")
    elif wanted in PSA_LEVELS and (level not in PSA_LEVELS
                                   or PSA_LEVELS.index(level) < PSA_LEVELS.index(wanted)):
        yield Hit(f"enforces Pod Security level {level!r}; the policy asks for {wanted!r}",
                  "metadata.labels")


def _pods(body: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], str]]:
    found = pod_spec(body)
    if found is not None:
        yield found


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
         host_path, {"allowedPaths": ()}),
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
         namespace_without_psa, {"level": None}),
    Rule("capacity", "error", "Requests exceed the class's capacity",
         "The cluster's requests (replicas × containers, DaemonSets × nodes) exceed its class's "
         "capacity (error over 100 %, warning over 80 %): pods would stay Pending.",
         "Lower requests or replicas for the class, or raise the class's capacity if the "
         "hardware has it."),
    Rule("required-package", "error", "A required package is missing",
         "fleet/policy.yaml requires packages on every cluster (e.g. the security scanner, the "
         "monitoring agent); this cluster's class does not run one of them.",
         "Add the package to the class (or the cluster), or waive it for the cluster with a reason."),
    Rule("waiver-expired", "error", "Expired waiver",
         "A waiver in fleet/policy.yaml is past its expires date: it no longer waives anything.",
         "Fix what it waived and remove it, or extend it with a new reason and date."),
    Rule("waiver-unused", "warning", "Unused waiver",
         "A waiver in fleet/policy.yaml matches no finding of the whole fleet.",
         "Remove it (what it waived is fixed), or correct its scope."),
)})


def check(body: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Hit]]:
    """The object rules whose ids are keys of `params` (rule id → its parameters), run on
    one object: (rule id, hit) in rule order."""
    found: list[tuple[str, Hit]] = []
    for rid, rule_params in params.items():
        rule = RULES[rid]
        if rule.check is not None:
            found.extend((rid, hit) for hit in rule.check(body, rule_params))
    return found
