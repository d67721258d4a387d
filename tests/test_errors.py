"""Each kind of bad input: exit 1, one clear message naming the place, no traceback,
nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, Edit, appending, hydrate, replacing, writing


def _copy(src: str, dst: str) -> Edit:
    def edit(root: Path) -> None:
        shutil.copytree(root / src, root / dst) if (root / src).is_dir() else shutil.copy(
            root / src, root / dst)
    return edit


def _both(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for one in edits:
            one(root)
    return edit


def _removing(rel: str) -> Edit:
    return lambda root: (root / rel).unlink()


def _linking(rel: str, target: str) -> Edit:
    """A symlink at `rel` to `target` (relative to the link), beside a valid values.yaml."""
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target)
        if not (root / rel).parent.joinpath("values.yaml").is_symlink():
            (root / rel).parent.joinpath("values.yaml").write_text("a: 1\n")
    return edit


def _emptying(rel: str) -> Edit:
    """Every file of the folder `rel` removed; the folder stays."""
    def edit(root: Path) -> None:
        shutil.rmtree(root / rel)
        (root / rel).mkdir()
    return edit


COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
STORE = "fleet/clusters/store-0001.yaml"
POP = "fleet/classes/pop.yaml"
# The line of the first item of a list appended to the example's policy, under its key.
APPENDED_ITEM = len((ROOT / "fleet/policy.yaml").read_text().splitlines()) + 2
ENVS = "fleet/environments.yaml"
LOGS = "bases/log-shipper/package.yaml"

# A case's text is the whole message; a list holds the parts of a message that quotes a
# tool's output.
CASES: dict[str, tuple[Edit, str | list[str]]] = {
    "unknown key": (appending(STORE, "labelz: {a: b}\n"),
                    f"{STORE}:7: labelz: unknown key (allowed here: apiVersions, class, "
                    "environment, labels, name, packages, site, vars)"),
    "wrong type": (replacing(STORE, "labels: {region: eu-central, country: de}", "labels: [a]"),
                   f"{STORE}:5: labels: expected a mapping, got a list"),
    "bad name": (replacing(STORE, "site: store-0001", "site: Store_1"),
                 f"{STORE}:3: site: 'Store_1' is not a valid name (a DNS-1123 label: lowercase "
                 "letters, digits and '-', at most 63 characters)"),
    "unknown class": (replacing(STORE, "class: pop", "class: popp"),
                      f"{STORE}:2: class: unknown class 'popp' (did you mean 'pop'?) (classes "
                      "are the files in fleet/classes/)"),
    "unknown package in class": (replacing(POP, "- pos-app", "- pos-ap"),
                                 f"{POP}:13: packages[7]: unknown package 'pos-ap' (did you mean "
                                 "'pos-app'?) (packages are the directories in bases/)"),
    "duplicate cluster": (_copy(STORE, "fleet/clusters/store-0001-copy.yaml"),
                          f"{STORE}:1: name: cluster 'store-0001' is already defined in "
                          "fleet/clusters/store-0001-copy.yaml"),
    "yaml syntax": (appending(POP, "vars: [unclosed\n"),
                    f"{POP}:22: YAML syntax error: did not find expected ',' or ']'"),
    "overlay owner typo": (_copy("overlays/classes/pop/pos-app", "overlays/sites/store-001/pos-app"),
                           "overlays/sites/store-001: no cluster has site 'store-001' (a "
                           "cluster's site is its site: key, by default its name), so this layer "
                           "would never apply; a typo in one of these? "
                           "fleet/clusters/store-0001.yaml (site: store-0001), "
                           "fleet/clusters/store-0006.yaml (site: store-0006), "
                           "fleet/clusters/store-0005.yaml (site: store-0005)"),
    "site typo on a shared site": (
        replacing("fleet/clusters/dc-fra-1.yaml", "site: fra", "site: fraa"),
        "fleet/clusters/dc-fra-1.yaml:3: site: unknown site 'fraa': no overlay folder "
        "overlays/sites/fraa/ exists (did you mean 'fra', whose layers are in "
        "overlays/sites/fra/?)"),
    "site typo on its own site": (
        replacing("fleet/clusters/edge-lyon-plant.yaml", "site: lyon-plant", "site: lyon-plnt"),
        "fleet/clusters/edge-lyon-plant.yaml:3: site: unknown site 'lyon-plnt': no overlay "
        "folder overlays/sites/lyon-plnt/ exists (did you mean 'lyon-plant', whose layers are in "
        "overlays/sites/lyon-plant/?)"),
    "overlay package typo": (_copy("overlays/classes/pop/pos-app", "overlays/classes/pop/pos-ap"),
                             "overlays/classes/pop/pos-ap: no package is named 'pos-ap' (did you "
                             "mean 'pos-app'?); this layer would never apply"),
    "unknown environment": (replacing(STORE, "environment: prod", "environment: production"),
                            f"{STORE}:4: environment: unknown environment 'production' "
                            "(environments are listed in fleet/environments.yaml)"),
    "ambiguous var": (replacing(STORE, 'vars: {storeId: "0001"}', "vars: {storeId: 0042}"),
                      f"{STORE}:6: vars.storeId: 0042 is read as the octal number 34 by YAML 1.1 "
                      '(Kubernetes, Helm) but as 42 by YAML 1.2; write "0042" (quoted) for the '
                      "text"),
    "ambiguous item of a list": (
        replacing(STORE, 'vars: {storeId: "0001"}', 'vars: {storeId: "0001", tills: [1, 0042]}'),
        f"{STORE}:6: vars.tills[1]: 0042 is read as the octal number 34 by YAML 1.1 "
        '(Kubernetes, Helm) but as 42 by YAML 1.2; write "0042" (quoted) for the text'),
    "ambiguous item of a class's list": (
        replacing(POP, "- pos-app\n", "- pos-app\n- no\n"),
        f"{POP}:14: packages[8]: no is read as the boolean false by YAML 1.1 (Kubernetes, "
        'Helm) but as the text "no" by YAML 1.2; write "no" (quoted) for the text, or false '
        "for the boolean"),
    "yaml 1.1 boolean": (replacing(STORE, "country: de", "country: NO"),
                         f"{STORE}:5: labels.country: NO is read as the boolean false by YAML "
                         '1.1 (Kubernetes, Helm) but as the text "NO" by YAML 1.2; write "NO" '
                         "(quoted) for the text, or false for the boolean"),
    "version that drops a digit": (
        replacing(POP, 'kubernetesVersion: "1.30"', "kubernetesVersion: 1.30"),
        f'{POP}:3: kubernetesVersion: 1.30 is read as the number 1.3; write "1.30" (quoted) for '
        "the text, or 1.3 for the number"),
    "duplicate key in a cluster": (appending(STORE, "environment: dev\n"),
                                   f"{STORE}:7: environment: duplicate key (first at line 4); "
                                   "remove one (YAML readers keep only one, and not all the same "
                                   "one)"),
    "duplicate key in values": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml",
                "replicaCount: 2\nlocale: de-DE\nreplicaCount: 3\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml:3: replicaCount: duplicate key (first "
        "at line 1); remove one (YAML readers keep only one, and not all the same one)"),
    "duplicate key in a layer patch": (
        appending("overlays/classes/pop/pos-app/pdb.yaml", "spec:\n  minAvailable: 2\n"),
        "overlays/classes/pop/pos-app/pdb.yaml:15: spec: duplicate key (first at line 9); remove "
        "one (YAML readers keep only one, and not all the same one)"),
    "duplicate key in a rendered patch": (
        appending("overlays/classes/pop/log-shipper/patch.yaml.j2", "kind: {{ 'DaemonSet' }}\n"),
        "overlays/classes/pop/log-shipper/patch.yaml.j2:24: kind: duplicate key (first at line "
        "3); remove one (YAML readers keep only one, and not all the same one)"),
    "alias bomb in values": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml",
                "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
                    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                    for p, n in zip("abcdefgh", "bcdefghi", strict=True))),
        "overlays/clusters/store-0001/pos-app/values.yaml:6: f: expands to more than 1,000,000 "
        "values through aliases (an alias bomb?); write the values out instead"),
    "oversized template result": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2", "a: {{ 'x' * 10**13 }}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:1: refused: 'x' * 10000000000000 "
        "would make 10,000,000,000,000 items or characters (the limit is 16,777,216) (rendering "
        "cluster store-0001)"),
    "template include": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2",
                "a: 1\n{% include 'values.yaml' %}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:2: {% include %} is not supported: "
        "a template's output may depend only on the template and its context, so that the render "
        "key of every cluster stays exact; put shared values in the class's vars or a class "
        "layer"),
    "not utf-8": (
        lambda root: (root / STORE).write_bytes((root / STORE).read_bytes().replace(
            b"region: eu-central", b"region: M\xfcnchen")),
        f"{STORE}:5: not UTF-8 text (byte 0xfc: invalid leading UTF-8 octet); save the file as "
        "UTF-8"),
    "empty layer": (
        writing("overlays/clusters/store-0001/pos-app/notes.txt", "remember the milk\n"),
        "overlays/clusters/store-0001/pos-app: this layer has nothing hydrate applies, so its "
        "files would be ignored; a layer of the helm package pos-app must hold a values.yaml "
        "(Helm values) or a kustomization.yaml of kind: Component (either may be a .j2 template)"),
    "yml extension": (writing("fleet/clusters/extra.yml", "name: extra\n"),
                      "fleet/clusters/extra.yml: use the .yaml extension (rename to extra.yaml)"),
    "missing dependency": (appending(STORE, "packages: {remove: [ingress]}\n"),
                           "cluster store-0001: package pos-app depends on ingress, which the "
                           "cluster does not list (class pop); add ingress to "
                           "fleet/classes/pop.yaml packages or to fleet/clusters/store-0001.yaml "
                           "packages.add, or drop the dependency from bases/pos-app/package.yaml"),
    # A cycle through a CRD edge alone is no error (the CRDs go first, see test_graph);
    # one of dependsOn edges is.
    "cycle of dependsOn edges": (
        lambda root: (replacing("bases/cert-manager/package.yaml", "dependsOn: [namespaces]",
                                "dependsOn: [namespaces, log-shipper]")(root),
                      replacing("bases/log-shipper/package.yaml", "dependsOn: [namespaces]",
                                "dependsOn: [namespaces, cert-manager]")(root)),
        "cluster store-0001: dependency cycle cert-manager → log-shipper → cert-manager (log-shipper "
        "needs cert-manager: dependsOn; cert-manager needs log-shipper: dependsOn)"),
    "undefined template variable": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2", "a: {{ vars.nope }}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:1: undefined variable: 'dict "
        "object' has no attribute 'nope' (rendering cluster store-0001)"),
    "helm failure": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml", "storeId: null\n"),
        ["hydrate: error: store-0001/pos-app: helm failed (exit 1): execution error at "
         "(bases/pos-app/chart/templates/", "storeId is required (the store number",
         "\n  command: helm template pos-app"]),
    "kustomize failure in repository terms": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
               f"{COMPONENT}resources: [missing.yaml]\n"),
        ["hydrate: error: store-0001/log-shipper: kubectl kustomize failed (exit 1): accumulating "
         "components: accumulateDirectory: \"recursed accumulation of path "
         "'overlays/clusters/store-0001/log-shipper'",
         "lstat overlays/clusters/store-0001/log-shipper/missing.yaml: no such file"]),
    "transformer directory outside the layer": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
               f"{COMPONENT}transformers: [../../../../../../../tmp]\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: transformers[0]: "
        "../../../../../../../tmp: leaves the layer directory; a package and each layer must be "
        "self-contained within overlays/clusters/store-0001/log-shipper"),
    "a sibling folder sharing the layer's name": (
        _both(writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
                      f"{COMPONENT}resources: [../log-shipper-extra/cm.yaml]\n"),
              writing("overlays/clusters/store-0001/log-shipper-extra/cm.yaml",
                      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n")),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: resources[0]: "
        "../log-shipper-extra/cm.yaml: leaves the layer directory; a package and each layer "
        "must be self-contained within overlays/clusters/store-0001/log-shipper"),
    "a sibling file sharing the package's name": (
        _both(replacing("bases/log-shipper/kustomization.yaml", "- daemonset.yaml\n",
                        "- daemonset.yaml\n- ../log-shipper.yaml\n"),
              writing("bases/log-shipper.yaml",
                      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n")),
        "bases/log-shipper/kustomization.yaml: resources[2]: ../log-shipper.yaml: leaves the "
        "package directory; a package and each layer must be self-contained within "
        "bases/log-shipper"),
    "remote resource in scp form": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
               f"{COMPONENT}resources: ['git@github.com:org/repo//p']\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: resources[0]: "
        "git@github.com:org/repo//p: remote resources are not allowed (no network at render "
        "time); vendor it into the repository"),
    "sops section without encryption": (
        _both(writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
                      f"{COMPONENT}resources: [secret.yaml]\n"),
              writing("overlays/clusters/store-0001/log-shipper/secret.yaml",
                      "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
                      "stringData: {password: hunter2}\nsops: {}\n")),
        "validation found 1 error; nothing was written\n"
        "  overlays/clusters/store-0001/log-shipper/secret.yaml:4: error [plaintext-secret] "
        "Secret/logging/db: stringData holds plaintext values (password): use SealedSecrets, "
        "External Secrets or SOPS-encrypted values (ENC[...]) (clusters: store-0001)\n"
        "  (`hydrate validate` lists every finding; fleet/policy.yaml sets severities and waivers)"),
    "patch target matches nothing": (
        replacing("overlays/classes/pop/log-shipper/kustomization.yaml", "name: log-shipper",
                  "name: log-shiper"),
        "overlays/classes/pop/log-shipper/kustomization.yaml: patches[0]: target {kind: "
        "DaemonSet, name: log-shiper} matches no object (rendering store-0001/log-shipper), so "
        "the patch would silently do nothing; fix the target, or remove the patch"),
    "same object from two packages": (
        writing("overlays/clusters/store-0001/rbac-baseline/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "resources: [ns.yaml]\n"),
        "cluster store-0001: Namespace pos is rendered by both namespaces and rbac-baseline; "
        "keep it in one package"),
    "plaintext secret": (
        writing("overlays/clusters/store-0001/pos-app/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "secretGenerator:\n- name: creds\n  literals: [password=hunter2]\n"),
        ["validation found 1 error; nothing was written\n  overlays/clusters/store-0001/pos-app/"
         "kustomization.yaml:4: error [plaintext-secret] Secret/pos/creds-",
         ": data holds plaintext values (password): use SealedSecrets, External Secrets or "
         "SOPS-encrypted values (ENC[...]) (clusters: store-0001)\n"]),
    "policy unknown rule": (
        writing("fleet/policy.yaml", "rules: {latest-tags: error}\n"),
        "fleet/policy.yaml:1: rules.latest-tags: unknown rule 'latest-tags' (did you mean "
        "'latest-tag'?) (docs/validation.md lists the rules)"),
    "policy bad severity": (
        writing("fleet/policy.yaml", "rules:\n  latest-tag: fatal\n"),
        "fleet/policy.yaml:2: rules.latest-tag: 'fatal' is not one of: error, warning, off"),
    "policy unknown parameter": (
        writing("fleet/policy.yaml", "rules:\n  host-path: {severity: error, allowed: [/var/log]}\n"),
        "fleet/policy.yaml:2: rules.host-path.allowed: rule host-path has no parameter 'allowed' "
        "(its parameters: allowedPaths)"),
    "policy that is a directory": (
        lambda root: (root / "fleet/policy.yaml").unlink() or (root / "fleet/policy.yaml").mkdir(),
        "fleet/policy.yaml: is a directory; the policy is one YAML file (docs/validation.md)"),
    "policy parameter of the wrong kind": (
        writing("fleet/policy.yaml", "rules:\n  namespace-without-psa: {level: strict}\n"),
        "fleet/policy.yaml:2: rules.namespace-without-psa.level: 'strict' is not a Pod Security "
        "level (privileged, baseline, restricted)"),
    "waiver without reason": (
        writing("fleet/policy.yaml", "waivers:\n- rule: privileged\n  packages: [pos-app]\n"),
        "fleet/policy.yaml:2: waivers[0]: missing required key: 'reason'"),
    "waiver of an unknown rule": (
        writing("fleet/policy.yaml", "waivers:\n- rule: privilegd\n  reason: x\n"),
        "fleet/policy.yaml:2: waivers[0].rule: unknown rule 'privilegd' (did you mean 'privileged'?)"),
    "schema waiver for the whole fleet": (
        writing("fleet/policy.yaml", "waivers:\n- {rule: schema, reason: the CRDs come later}\n"),
        "fleet/policy.yaml:2: waivers[0]: a waiver of schema lets objects the API server rejects "
        "be published, so it must name them (packages and objects: Kind/name or "
        "Kind/namespace/name) and expire; add packages and objects and expires"),
    "api-not-served waiver without an expiry": (
        writing("fleet/policy.yaml", "waivers:\n- {rule: api-not-served, packages: [ingress], "
                                     "objects: [Ingress/shop/web], reason: moving}\n"),
        "fleet/policy.yaml:2: waivers[0]: a waiver of api-not-served lets objects the API server "
        "rejects be published, so it must name them (packages and objects: Kind/name or "
        "Kind/namespace/name) and expire; add expires"),
    "schema waiver with a pattern": (
        writing("fleet/policy.yaml", "waivers:\n- rule: schema\n  packages: ['*']\n"
                                     "  objects: [Deployment/shop/web]\n  reason: x\n"
                                     "  expires: 2027-01-01\n"),
        "fleet/policy.yaml:3: waivers[0].packages[0]: a waiver of schema names each object it "
        "waives: '*' is a pattern; list the objects one by one"),
    "waiver with an impossible date": (
        writing("fleet/policy.yaml", "waivers:\n- {rule: privileged, reason: x, expires: 2027-02-30}\n"),
        "fleet/policy.yaml:2: waivers[0].expires: '2027-02-30' is not a date (YYYY-MM-DD)"),
    "waiver object that is no object": (
        writing("fleet/policy.yaml", "waivers:\n- {rule: privileged, reason: x, objects: [node-exporter]}\n"),
        "fleet/policy.yaml:2: waivers[0].objects[0]: 'node-exporter' is not Kind/name or "
        "Kind/namespace/name (* and ? match)"),
    "operator kind without its pods": (
        appending("fleet/policy.yaml", "workloads:\n- {apiGroup: db.example.com, kind: Db}\n"),
        f"fleet/policy.yaml:{APPENDED_ITEM}: workloads[0]: give one of resources (the field holding a pod's "
        "requests and limits) or podSpec (the field holding a pod spec)"),
    "operator kind with a malformed field": (
        appending("fleet/policy.yaml", "workloads:\n- {apiGroup: db.example.com, kind: Db, "
                                       "resources: spec..resources}\n"),
        f"fleet/policy.yaml:{APPENDED_ITEM}: workloads[0].resources: 'spec..resources' is not a "
        "field path such as spec.replicas or spec.nodeSets[0].count"),
    "capacity that is no quantity": (
        replacing(POP, 'memory: 48Gi', 'memory: 48GB'),
        f"{POP}:4: capacity.memory: '48GB' is not a memory quantity such as 48Gi"),
    "capacity too large to count": (
        replacing(POP, 'cpu: "12"', 'cpu: "1e400"'),
        f"{POP}:4: capacity.cpu: '1e400' is too large to count; give what the class's clusters "
        "have in all (e.g. \"12\"), or leave it out to not check it"),
    "capacity of zero": (
        replacing(POP, 'memory: 48Gi', 'memory: "0"'),
        f"{POP}:4: capacity.memory: '0' is not a positive amount; give what the class's clusters "
        "have in all (e.g. 48Gi), or leave it out to not check it"),
    "negative capacity": (
        replacing(POP, 'cpu: "12"', 'cpu: -500m'),
        f"{POP}:4: capacity.cpu: '-500m' is not a positive amount; give what the class's clusters "
        "have in all (e.g. \"12\"), or leave it out to not check it"),
    "storage capacity that is no quantity": (
        replacing(POP, 'memory: 48Gi', 'memory: 48Gi, storage: 2TB'),
        f"{POP}:4: capacity.storage: '2TB' is not a storage quantity such as 2Ti"),
    "kubernetes version too old": (
        replacing(POP, 'kubernetesVersion: "1.30"', 'kubernetesVersion: "1.22"'),
        f"{POP}:3: kubernetesVersion: Kubernetes 1.22 is older than the schemas hydrate has "
        "(1.25 to 1.37); Kubernetes below 1.25 is out of support: upgrade the class"),
    "remote resource": (
        writing("overlays/classes/pop/log-shipper/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "resources: [https://github.com/example/repo//deploy?ref=v1]\n"),
        "overlays/classes/pop/log-shipper/kustomization.yaml: resources[0]: "
        "https://github.com/example/repo//deploy?ref=v1: remote resources are not allowed (no "
        "network at render time); vendor it into the repository"),
    "layer that is a Kustomization": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
               "resources: []\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: kind: Kustomization: an "
        "overlay layer must be a Component (apiVersion: kustomize.config.k8s.io/v1alpha1, kind: "
        "Component)"),
    "values in a kustomize layer": (
        writing("overlays/clusters/store-0001/log-shipper/values.yaml", "a: 1\n"),
        "overlays/clusters/store-0001/log-shipper/values.yaml: values only apply to helm "
        "packages; log-shipper is a kustomize package (use a Component with patches)"),
    # Every error docs/configuration.md promises, with its exact words.
    "class name is not its file name": (
        replacing(POP, "name: pop\n", "name: popx\n"),
        f"{POP}:1: name: 'popx' does not match the file name; a class lives in "
        "fleet/classes/popx.yaml"),
    "cluster name is not its file name": (
        replacing(STORE, "name: store-0001\n", "name: store-0009\n"),
        f"{STORE}:1: name: 'store-0009' does not match the file name; a cluster lives in "
        "fleet/clusters/store-0009.yaml"),
    "package name is not its directory": (
        replacing(LOGS, "name: log-shipper\n", "name: logshipper\n"),
        f"{LOGS}:1: name: 'logshipper' does not match its directory 'log-shipper'"),
    "add a package the class lists": (
        appending(STORE, "packages: {add: [pos-app]}\n"),
        f"{STORE}:7: packages.add[0]: 'pos-app' is already in class pop's packages"),
    "remove a package the class does not list": (
        appending(STORE, "packages: {remove: [postgres]}\n"),
        f"{STORE}:7: packages.remove[0]: 'postgres' is not in class pop's packages, so there is "
        "nothing to remove"),
    "add an unknown package": (
        appending(STORE, "packages: {add: [pos-ap]}\n"),
        f"{STORE}:7: packages.add[0]: unknown package 'pos-ap' (did you mean 'pos-app'?)"),
    "x and x.j2 in one layer": (
        _copy("overlays/classes/pop/log-shipper/patch.yaml.j2",
              "overlays/classes/pop/log-shipper/patch.yaml"),
        "overlays/classes/pop/log-shipper: both patch.yaml and patch.yaml.j2 exist; keep one"),
    "an empty layer folder": (
        writing("overlays/clusters/store-0001/pos-app/.keep", ""),
        "overlays/clusters/store-0001/pos-app: this layer has nothing hydrate applies, so its "
        "files would be ignored; a layer of the helm package pos-app must hold a values.yaml "
        "(Helm values) or a kustomization.yaml of kind: Component (either may be a .j2 template)"),
    "helmCharts in a kustomization": (
        appending("bases/log-shipper/kustomization.yaml",
                  "helmCharts:\n- name: x\n  repo: https://example.com\n"),
        "bases/log-shipper/kustomization.yaml: helmCharts: not allowed (hydrate runs Helm "
        "itself: make this a package with type: helm)"),
    "chart on a kustomize package": (
        appending(LOGS, "chart: chart\n"),
        f"{LOGS}:7: chart: only for packages of type helm"),
    "releaseName on a kustomize package": (
        appending(LOGS, "releaseName: x\n"),
        f"{LOGS}:7: releaseName: only for packages of type helm"),
    "a later environment as promotion.from": (
        replacing(ENVS, "promotion: {from: dev,", "promotion: {from: prod,"),
        f"{ENVS}:6: environments[1].promotion.from: 'prod' is not an environment listed before "
        "'staging' (promotion flows down the list)"),
    "an environment promoting from itself": (
        replacing(ENVS, "promotion: {from: dev,", "promotion: {from: staging,"),
        f"{ENVS}:6: environments[1].promotion.from: 'staging' is not an environment listed "
        "before 'staging' (promotion flows down the list)"),
    "two environments on one branch": (
        replacing(ENVS, "- name: staging\n", "- name: staging\n  branch: env/dev\n"),
        f"{ENVS}:6: environments[1].branch: 'env/dev' is already the branch of another "
        "environment"),
    "an environment listed twice": (
        replacing(ENVS, "- name: prod\n", "- name: dev\n"),
        f"{ENVS}:7: environments[2].name: 'dev' is listed twice"),
    "a soak that is no duration": (
        replacing(ENVS, "soak: 30m", "soak: 30 minutes"),
        f"{ENVS}:6: environments[1].promotion.soak: '30 minutes' is not a duration: numbers with "
        "units s, m, h or d, such as 30m, 24h or 1d12h"),
    "a soak in weeks": (
        replacing(ENVS, "soak: 30m", "soak: 2w"),
        f"{ENVS}:6: environments[1].promotion.soak: '2w' is not a duration: numbers with units "
        "s, m, h or d, such as 30m, 24h or 1d12h"),
    "a branch name git refuses": (
        replacing(ENVS, "branch: env/dev", "branch: env/dev/"),
        f"{ENVS}:4: environments[0].branch: 'env/dev/' is not a branch name (letters, digits, "
        "'-', '.', '_' and '/', starting and ending with a letter or digit)"),
    "a kubernetes version that is none": (
        replacing(POP, 'kubernetesVersion: "1.30"', 'kubernetesVersion: "latest"'),
        f"{POP}:3: kubernetesVersion: 'latest' is not a Kubernetes version such as \"1.30\" or "
        '"v1.30.2"'),
    "no environments": (
        writing(ENVS, "environments: []\n"),
        f"{ENVS}:1: environments: the list is empty; it needs at least one item"),
    "an agent hydrate does not know": (
        replacing(ENVS, "- name: prod\n", "- name: prod\n  agent: spinnaker\n"),
        f"{ENVS}:8: environments[2].agent: 'spinnaker' is not one of: argocd, flux"),
    "an empty class file": (
        writing(POP, ""),
        f"{POP}:1: the file is empty; it must be a mapping with at least the keys name, "
        "kubernetesVersion, packages"),
    "template import": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2",
                "{% import 'x' as y %}\na: 1\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:1: {% import %} is not supported: a "
        "template's output may depend only on the template and its context, so that the render "
        "key of every cluster stays exact; put shared values in the class's vars or a class "
        "layer"),
    "template extends": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2", "{% extends 'x' %}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:1: {% extends %} is not supported: "
        "a template's output may depend only on the template and its context, so that the render "
        "key of every cluster stays exact; put shared values in the class's vars or a class "
        "layer"),
    "a key that is not text": (
        replacing(STORE, "country: de", "on: de"),
        f"{STORE}:5: labels.on: key on is read as the boolean true by YAML 1.1 (Kubernetes, "
        'Helm) but as the text "on" by YAML 1.2; write "on" (quoted) for the text, or true for '
        "the boolean"),
    "a control character": (
        replacing(STORE, "region: eu-central", "region: eu\x07central"),
        f"{STORE}:5: character 0x0007 is not allowed in YAML (control characters are not "
        "allowed); write it as an escape in a double-quoted string"),
    "nesting deeper than 100": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml",
                "a: " + "[" * 120 + "]" * 120 + "\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml:1: a: nested more than 100 levels deep"),
    # Configuration loading: each error its code raises, as a user would meet it.
    "a missing required key": (
        replacing(STORE, "environment: prod\n", ""),
        f"{STORE}:1: missing required key: 'environment'"),
    "a package listed twice in a class": (
        replacing(POP, "- pos-app\n", "- pos-app\n- ingress\n"),
        f"{POP}:5: packages: lists the same item twice"),
    "a check required twice": (
        replacing(ENVS, "requires: [smoke]}", "requires: [smoke, smoke]}"),
        f"{ENVS}:6: environments[1].promotion.requires: lists the same item twice"),
    "nothing where a mapping goes": (
        replacing(STORE, "labels: {region: eu-central, country: de}", "labels:"),
        f"{STORE}:5: labels: expected a mapping, got nothing (null)"),
    "a boolean where text goes": (
        replacing(STORE, "site: store-0001", "site: true"),
        f"{STORE}:3: site: expected a string, got boolean true"),
    "a mapping where text goes": (
        replacing(STORE, "environment: prod", "environment: {a: 1}"),
        f"{STORE}:4: environment: expected a string, got a mapping"),
    "a number where text goes": (
        replacing(STORE, "environment: prod", "environment: 5"),
        f"{STORE}:4: environment: expected a string, got int 5"),
    "a list where text or a number goes": (
        replacing(POP, 'capacity: {cpu: "12"', "capacity: {cpu: [12]"),
        f"{POP}:4: capacity.cpu: expected a string or an integer, got a list"),
    "a symlinked directory in a layer": (
        _linking("overlays/clusters/store-0001/pos-app/sub", "../../../classes/pop/pos-app"),
        "overlays/clusters/store-0001/pos-app/sub: symlinked directories are not supported"),
    "a dangling symlink in a layer": (
        _linking("overlays/clusters/store-0001/pos-app/values.yaml", "nothing.yaml"),
        "overlays/clusters/store-0001/pos-app/values.yaml: no such file"),
    "a folder named like a cluster file": (
        writing("fleet/clusters/extra.yaml/notes.txt", "x\n"),
        "fleet/clusters/extra.yaml: expected a file"),
    "no environments file": (
        _removing(ENVS),
        f"{ENVS}: no such file (is --repo the configuration repository?)"),
    "a branch name with ..": (
        replacing(ENVS, "branch: env/dev", "branch: env..dev"),
        f"{ENVS}:4: environments[0].branch: 'env..dev' is not a valid git branch name"),
    "a folder in bases without package.yaml": (
        writing("bases/extra/kustomization.yaml", "resources: []\n"),
        "bases/extra: no package.yaml (every directory in bases/ is a package)"),
    "dependsOn an unknown package": (
        replacing("bases/cert-manager/package.yaml", "dependsOn: [namespaces]",
                  "dependsOn: [namespace]"),
        "bases/cert-manager/package.yaml:4: dependsOn[0]: unknown package 'namespace' (did you "
        "mean 'namespaces'?) (packages are the directories in bases/)"),
    "a kustomize package without a kustomization": (
        _removing("bases/log-shipper/kustomization.yaml"),
        f"{LOGS}:2: type: a kustomize package needs a kustomization.yaml in bases/log-shipper/ "
        "(or make it type: helm)"),
    "a helm package whose chart is missing": (
        replacing("bases/pos-app/package.yaml", "chart: chart", "chart: charts"),
        "bases/pos-app/package.yaml:3: chart: bases/pos-app/charts has no Chart.yaml (a helm "
        "package needs a local chart; see chart:)"),
    "a class defined twice": (
        _copy(POP, "fleet/classes/pop-copy.yaml"),
        f"{POP}:1: name: class 'pop' is already defined in fleet/classes/pop-copy.yaml"),
    "no classes": (
        _emptying("fleet/classes"),
        "fleet/classes: no cluster classes defined"),
    "no clusters": (
        _emptying("fleet/clusters"),
        "fleet/clusters: no clusters defined"),
    "an unknown layer folder": (
        _copy("overlays/classes", "overlays/class"),
        "overlays/class: unknown layer folder (expected one of: environments, classes, sites, "
        "clusters)"),
    "a layer of an unknown class": (
        _copy("overlays/classes/pop", "overlays/classes/popp"),
        "overlays/classes/popp: no class is named 'popp' (did you mean 'pop'?); this layer would "
        "never apply"),
    "a layer of an unknown cluster": (
        _copy("overlays/clusters/store-0003", "overlays/clusters/store-0o03"),
        "overlays/clusters/store-0o03: no cluster is named 'store-0o03' (did you mean "
        "'store-0003'?); this layer would never apply"),
    "a kustomization that is no mapping": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml", "- a\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: expected a mapping (a "
        "kustomization)"),
    "a package kustomization that is a Component": (
        replacing("bases/log-shipper/kustomization.yaml",
                  "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
                  COMPONENT),
        "bases/log-shipper/kustomization.yaml: kind: Component: a package's kustomization must "
        "be a Kustomization"),
    "an inline transformer that is no mapping": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
                f"{COMPONENT}transformers:\n- '[1, 2]'\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: transformers[0]: an inline "
        "config must be a mapping"),
    "a resource that is no path": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
                f"{COMPONENT}resources: [1]\n"),
        "overlays/clusters/store-0001/log-shipper/kustomization.yaml: resources[0]: expected a "
        "path, got 1"),
    "a template dividing by zero": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2", "a: 1\nb: {{ 1 // 0 }}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:2: ZeroDivisionError: integer "
        "division or modulo by zero (rendering cluster store-0001)"),
    "a template number too large": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2",
                "a: {{ 7 ** 20000 * 7 ** 20000 }}\n"),
        "overlays/clusters/store-0001/pos-app/values.yaml.j2:1: refused: a huge number * a huge "
        "number makes a number of 112,295 bits (the limit is 65,536) (rendering cluster "
        "store-0001)"),
    # Promotion (fleet/environments.yaml, prod's block).
    "a window at 25:00": (
        replacing(ENVS, 'hours: "08:00-16:00"', 'hours: "08:00-25:00"'),
        [f"{ENVS}:14: environments[2].promotion.windows[0].hours: 25:00 is not a time of day "
         "(00:00 to 23:59)"]),
    "an unknown time zone": (
        replacing(ENVS, "timezone: Europe/Berlin", "timezone: Europe/Berlinn"),
        [f"{ENVS}:14: environments[2].promotion.windows[0].timezone: 'Europe/Berlinn' is not an "
         "IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"]),
    "a soak of 3 days": (
        replacing(ENVS, "soak: 24h", "soak: 3 days"),
        [f"{ENVS}:10: environments[2].promotion.soak: '3 days' is not a duration"]),
    "an unknown wave selector": (
        replacing(ENVS, "{name: early, percent: 20,", "{name: early, region: eu, percent: 20,"),
        [f"{ENVS}:20: environments[2].promotion.waves[1].region: unknown key (allowed here: "
         "classes, clusters, labels, name, percent, requires, sites, soak)"]),
    "overlapping waves": (
        replacing(ENVS, "{name: early, percent: 20,",
                  "{name: early, clusters: [store-0001], percent: 20,"),
        [f"{ENVS}:20: environments[2].promotion.waves[1].clusters[0]: store-0001 is already in "
         "wave canary; a cluster belongs to one wave"]),
    "an empty wave": (
        replacing(ENVS, "{name: early, percent: 20,", "{name: early, labels: {region: mars},"),
        [f"{ENVS}:20: environments[2].promotion.waves[1]: wave early takes no cluster of the "
         "environment"]),
    "a wave naming another environment's cluster": (
        replacing(ENVS, "clusters: [store-0001]", "clusters: [store-lab]"),
        [f"{ENVS}:19: environments[2].promotion.waves[0].clusters[0]: 'store-lab' is a cluster "
         "of dev, not of prod"]),
    "a wave naming no cluster": (
        replacing(ENVS, "clusters: [store-0001]", "clusters: [store-9999]"),
        [f"{ENVS}:19: environments[2].promotion.waves[0].clusters[0]: 'store-9999' is not a "
         "cluster (there is no fleet/clusters/store-9999.yaml)"]),
    "a freeze that ends before it starts": (
        replacing(ENVS, 'to: "2027-01-04T00:00:00Z"', 'to: "2026-12-01T00:00:00Z"'),
        [f"{ENVS}:16: environments[2].promotion.freezes[0].to: 2026-12-01T00:00:00Z is not "
         "after from (2026-12-18T00:00:00Z)"]),
    "a freeze time without offset": (
        replacing(ENVS, 'to: "2027-01-04T00:00:00Z"', 'to: "2027-01-04T00:00:00"'),
        [f"{ENVS}:16: environments[2].promotion.freezes[0].to: '2027-01-04T00:00:00' has no "
         "offset (add Z for UTC, or +01:00)"]),
    "two waves with one name": (
        replacing(ENVS, "{name: rest}", "{name: canary}"),
        [f"{ENVS}:21: environments[2].promotion.waves[2].name: wave 'canary' is already "
         "waves[0]"]),
    "a retry back-off longer than its longest": (
        replacing(ENVS, "  branch: env/dev\n",
                  "  branch: env/dev\n  retry: {backoff: 10m, maxBackoff: 5m}\n"),
        [f"{ENVS}:5: environments[0].retry.maxBackoff: maxBackoff 5m is shorter than backoff "
         "10m; the longest wait between retries cannot be shorter than the first"]),
    "a retry back-off of nothing": (
        replacing(ENVS, "  branch: env/dev\n", "  branch: env/dev\n  retry: {backoff: 0s}\n"),
        [f"{ENVS}:5: environments[0].retry.backoff: backoff 0s would retry a failed sync at "
         "once, over and over; give 1s or more"]),
    "a retry back-off in days": (
        replacing(ENVS, "  branch: env/dev\n", "  branch: env/dev\n  retry: {backoff: 1d}\n"),
        [f"{ENVS}:5: environments[0].retry.backoff: '1d' is not a duration: numbers with units "
         "s, m or h"]),
    "a retry key Argo CD does not have": (
        replacing(ENVS, "  branch: env/dev\n", "  branch: env/dev\n  retry: {limit: 3, jitter: 2s}\n"),
        [f"{ENVS}:5: environments[0].retry.jitter: unknown key (allowed here: backoff, factor, "
         "limit, maxBackoff)"]),
    "a day that is none": (
        replacing(ENVS, "days: [mon, tue, wed, thu]", "days: [mon, tues]"),
        [f"{ENVS}:14: environments[2].promotion.windows[0].days[1]: 'tues' is not one of: mon, "
         "tue, wed, thu, fri, sat, sun"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_error(example: Path, case: str) -> None:
    edit, expected = CASES[case]
    edit(example)
    if case == "same object from two packages":
        (example / "overlays/clusters/store-0001/rbac-baseline/ns.yaml").write_text(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pos\n")
    out = example / "rendered"
    result = hydrate("--repo", example, "render", "--cluster", "store-0001", "--out", out)
    assert result.code == 1, result.err
    if isinstance(expected, str):  # the whole of stderr: this one line, nothing else
        assert result.err == f"hydrate: error: {expected}\n"
    else:
        assert result.err.startswith("hydrate: error: ")
        assert "Traceback" not in result.err
        for part in expected:
            assert part in result.err
    assert not out.exists()


def test_unknown_cluster_on_the_command_line(example: Path) -> None:
    result = hydrate("--repo", example, "render", "--cluster", "store-01")
    assert result.code == 1
    assert "unknown cluster 'store-01'" in result.err


def test_usage_error_exits_2(example: Path) -> None:
    result = hydrate("--repo", example, "render", "--jobs", "0")
    assert result.code == 2
    assert "--jobs" in result.err
