"""One cluster's files as an OCI artifact, byte for byte the same for the same input: a
tar+gzip layer (entries sorted, times, owners and modes fixed), a config blob and an OCI
image manifest with Flux's media types and the provenance annotations.

Flux's source-controller extracts the layer its `layerSelector` names (by default the
first); Argo CD's repo-server takes a single-layer artifact whose layer media type it
allows (by default `application/vnd.oci.image.layer.v1.tar+gzip`): `layerMediaType: oci`
gives that one, or the repo-server's `ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES` can name
Flux's (docs/output.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.cncf.flux.config.v1+json"
LAYERS = {"flux": "application/vnd.cncf.flux.content.v1.tar+gzip",
          "oci": "application/vnd.oci.image.layer.v1.tar+gzip"}
CREATED = "org.opencontainers.image.created"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
ENVIRONMENT = "dev.hydrate.environment"
CLUSTER = "dev.hydrate.cluster"
EMPTY_CONFIG = b"{}"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files: Mapping[str, bytes]) -> bytes:
    """The files (relative paths) as a gzip'd tar: directories first where they begin,
    entries in path order, mode 0644/0755, owner 0:0 with no names, time 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                if folder not in dirs:
                    dirs.add(folder)
                    tar.addfile(_info(folder + "/", tarfile.DIRTYPE, 0o755, 0))
            data = files[path]
            tar.addfile(_info(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


@dataclass(frozen=True)
class Packed:
    """An artifact ready to push: its blobs and its manifest."""

    layer: bytes
    layer_digest: str
    config: bytes
    manifest: bytes
    digest: str  # the manifest's

    @property
    def blobs(self) -> tuple[tuple[str, bytes], ...]:
        return ((self.layer_digest, self.layer), (digest(self.config), self.config))


def pack(files: Mapping[str, bytes], media: str, source: str, revision: str, created: str,
         environment: str, cluster: str, packed_layer: bytes | None = None) -> Packed:
    """The artifact of `files` (`packed_layer`: their layer, if already made)."""
    data = packed_layer if packed_layer is not None else layer(files)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(EMPTY_CONFIG),
                   "size": len(EMPTY_CONFIG)},
        "layers": [{"mediaType": LAYERS[media], "digest": digest(data), "size": len(data)}],
        "annotations": {CREATED: created, SOURCE: source, REVISION: revision,
                        ENVIRONMENT: environment, CLUSTER: cluster},
    }
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return Packed(data, digest(data), EMPTY_CONFIG, body, digest(body))


def layer_of(manifest: bytes) -> tuple[str, Mapping[str, str]] | None:
    """The single layer's digest and the annotations of a manifest hydrate wrote (None: not
    one of that shape)."""
    try:
        doc = json.loads(manifest)
        layers = doc["layers"]
        annotations = doc.get("annotations") or {}
        if len(layers) != 1 or not isinstance(annotations, dict):
            return None
        return str(layers[0]["digest"]), {str(k): str(v) for k, v in annotations.items()}
    except (ValueError, KeyError, TypeError, IndexError):
        return None
