"""Charts whose output changes between renders: found by what their templates call, then
by rendering twice and comparing."""

from __future__ import annotations

import io
import json
import tarfile

from pipeline.render import determinism

DEPLOY = b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    built: {{ now | date "20060102" | quote }}
    note: {{ printf "now or never" | quote }}
spec:
  template:
    metadata:
      annotations:
        rollme: {{ randAlphaNum 5 | quote }}
"""


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_calls_are_found_in_template_actions_only() -> None:
    assert determinism.calls({"chart/templates/deploy.yaml": DEPLOY}) == ("now", "randAlphaNum")
    # Words in text, in strings, in values and in other files are no calls.
    quiet = {"chart/templates/cm.yaml": b"data:\n  when: now\n  x: {{ printf \"now\" }}\n",
             "chart/values.yaml": b"password: '{{ randAlphaNum 5 }}'\n",
             "chart/templates/_helpers.tpl": b"{{- define \"x\" -}}{{ .Values.now }}{{ end }}"}
    assert determinism.calls(quiet) == ()
    # A packed subchart's templates count.
    sub = _tgz({"db/Chart.yaml": b"name: db\n", "db/templates/secret.yaml": b"p: {{ genCA \"db\" 365 }}\n"})
    assert determinism.calls({"chart/charts/db-1.0.0.tgz": sub}) == ("genCA",)


def test_now_is_moved_on_in_actions_and_nowhere_else() -> None:
    later = determinism.later({"chart/templates/deploy.yaml": DEPLOY, "chart/values.yaml": b"now: 1\n"})
    text = later["chart/templates/deploy.yaml"]
    assert b'built: {{ (now | dateModify "+8785h1m1s") | date "20060102" | quote }}' in text
    assert b'note: {{ printf "now or never" | quote }}' in text
    assert later["chart/values.yaml"] == b"now: 1\n"
    sub = _tgz({"db/templates/job.yaml": b"at: {{ now | unixEpoch }}\n"})
    moved = determinism.later({"chart/charts/db-1.0.0.tgz": sub})["chart/charts/db-1.0.0.tgz"]
    with tarfile.open(fileobj=io.BytesIO(moved), mode="r:gz") as archive:
        member = archive.extractfile("db/templates/job.yaml")
        assert member is not None
        assert member.read() == b'at: {{ (now | dateModify "+8785h1m1s") | unixEpoch }}\n'


def test_variance_names_each_object_and_field_that_differs() -> None:
    first = b"""---
# Source: web/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: web-auth}
data: {password: YWJj, user: YWRtaW4=}
---
# Source: web/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1}
"""
    second = first.replace(b"YWJj", b"eHl6")
    found = json.loads(determinism.variance(first, second, "c/web", ("randAlphaNum",)))
    assert found == {"version": determinism.VERSION, "functions": ["randAlphaNum"], "objects": [
        {"apiVersion": "v1", "kind": "Secret", "namespace": "", "name": "web-auth",
         "fields": ["data.password"]}]}
    # A generated name: the object as a whole.
    renamed = first.replace(b"name: web-auth", b"name: web-auth-x1")
    found = json.loads(determinism.variance(first, renamed, "c/web", ("randAlpha",)))
    assert [(o["name"], o["fields"]) for o in found["objects"]] == [("web-auth", ["metadata.name"])]
