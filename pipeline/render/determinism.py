"""Charts whose output changes from one render to the next.

hydrate renders each distinct input once and keeps the output, so a chart that calls
`randAlphaNum`, `genCA`, `uuidv4` or `now` publishes whatever the first render (or the
first render on a fresh CI cache) drew. Where a chart's templates call such a function,
the input is rendered a second time, with `now` moved a year and an hour on (a render
a second later would mostly print the same time), and the two outputs are compared: the
objects and fields that differ are its variance, kept in the cache beside the output
and reported by validation as `non-deterministic`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping
from typing import Any

from pipeline.render.postprocess import parse_output

# Sprig and Helm functions whose result is not a function of the input.
FUNCTIONS = ("randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes", "randInt",
             "shuffle", "uuidv4", "now", "ago", "genCA", "genCAWithKey", "genPrivateKey",
             "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert",
             "genSignedCertWithKey", "htpasswd", "bcrypt", "encryptAES", "getHostByName")
_CALL = re.compile(rb"(?<![\w.$])(" + b"|".join(f.encode() for f in FUNCTIONS) + rb")(?![\w])")
_ACTION = re.compile(rb"\{\{(.*?)\}\}", re.DOTALL)
_NOW = re.compile(rb"(?<![\w.$])now(?![\w])")
# A year and an hour, a minute and a second on: every date and time format differs.
_LATER = b'(now | dateModify "+8785h1m1s")'
VERSION = "1"


def _templates(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The template files of a chart (its own and its subcharts', packed ones unpacked),
    by path; a packed subchart's members as `<archive>!<member>`."""
    found: dict[str, bytes] = {}
    for path, data in files.items():
        if "/templates/" in f"/{path}":
            found[path] = data
        elif path.endswith((".tgz", ".tar.gz")):
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                    for member in archive.getmembers():
                        handle = archive.extractfile(member) if member.isfile() else None
                        if handle is not None and "/templates/" in f"/{member.name}":
                            found[f"{path}!{member.name}"] = handle.read()
            except (tarfile.TarError, OSError, EOFError):
                continue  # not an archive helm can read either: helm says so
    return found


def calls(files: Mapping[str, bytes]) -> tuple[str, ...]:
    """The functions of `FUNCTIONS` a chart's template actions call, sorted."""
    found: set[str] = set()
    for text in _templates(files).values():
        if b"{{" not in text:
            continue
        for action in _ACTION.findall(text):
            found.update(m.decode() for m in _CALL.findall(_unquoted(action)))
    return tuple(sorted(found))


def _unquoted(action: bytes) -> bytes:
    """An action's text with its string literals blanked (a "now" in a string is text)."""
    return re.sub(rb'"(?:[^"\\]|\\.)*"|`[^`]*`', lambda m: b" " * len(m.group(0)), action)


def _shift(text: bytes) -> bytes:
    def action(m: re.Match[bytes]) -> bytes:
        body = m.group(1)
        blanked = _unquoted(body)
        out, last = [], 0
        for hit in _NOW.finditer(blanked):
            out += [body[last:hit.start()], _LATER]
            last = hit.end()
        return b"{{" + b"".join([*out, body[last:]]) + b"}}"
    return _ACTION.sub(action, text)


def later(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The chart's files with every `now` in a template action a year and an hour on."""
    out = dict(files)
    for path, data in files.items():
        if "/templates/" in f"/{path}" and b"now" in data:
            out[path] = _shift(data)
        elif path.endswith((".tgz", ".tar.gz")) and any(
                k.startswith(f"{path}!") and b"now" in v for k, v in _templates({path: data}).items()):
            out[path] = _repack(data)
    return out


def _repack(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source, \
            tarfile.open(fileobj=buffer, mode="w:gz") as target:
        for member in source.getmembers():
            handle = source.extractfile(member) if member.isfile() else None
            content = handle.read() if handle is not None else None
            if content is not None and "/templates/" in f"/{member.name}":
                content = _shift(content)
                member.size = len(content)
            target.addfile(member, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _identity(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    return (str(doc.get("apiVersion", "")), str(doc.get("kind", "")), str(meta.get("namespace") or ""),
            str(meta.get("name", "")))


def variance(first: bytes, second: bytes, where: str, functions: tuple[str, ...]) -> bytes:
    """What differs between two outputs of one input, as the cache keeps it: per object of
    the first (apiVersion, kind, namespace as written, name), the fields that differ."""
    from pipeline.config.provenance import changed_fields, format_key  # ruamel: only when it varies

    a, b = parse_output(first, where).docs, parse_output(second, where).docs
    paired = list(zip(a, b, strict=True)) if len(a) == len(b) and \
        all(_identity(x)[:2] == _identity(y)[:2] for x, y in zip(a, b, strict=False)) else None
    if paired is None:  # objects came and went: pair what has the same identity
        others = {_identity(d): d for d in b}
        paired = [(d, others.get(_identity(d), {})) for d in a]
    found = []
    for x, y in paired:
        if x == y:
            continue
        if _identity(x) != _identity(y):  # a generated name: the object as a whole
            fields = ["metadata.name"]
        else:
            fields = sorted({format_key(k) for k in changed_fields(x, y)})
        api, kind, namespace, name = _identity(x)
        found.append({"apiVersion": api, "kind": kind, "namespace": namespace, "name": name,
                      "fields": fields})
    return json.dumps({"version": VERSION, "functions": list(functions), "objects": found},
                      sort_keys=True).encode()


def cache_key(run_key: str) -> str:
    """Where the cache keeps the variance of the run `run_key` (only of runs that vary)."""
    return hashlib.sha256(f"variance {VERSION}\0{run_key}".encode()).hexdigest()
