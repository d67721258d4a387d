"""The `promotion` block of an environment in fleet/environments.yaml, read and checked.

    promotion:
      from: staging          # the environment it takes source commits from
      soak: 24h              # how long the source must have been live there
      requires: [smoke]      # checks recorded as passed there
      pullRequest: true      # land through a pull request from <branch>-next
      auto: false            # the scheduled workflow promotes when every gate passes
      windows: [{days: [mon, tue], hours: "08:00-16:00", timezone: Europe/Berlin}]
      freezes: [{from: "2026-11-26T00:00:00Z", to: "2026-12-01T00:00:00Z", reason: ...}]
      waves: [{name: canary, clusters: [store-0001], soak: 2h, requires: [smoke]}, ...]

Times of day and zones are checked here (a window of `25:00`, an unknown zone), and the
waves against the environment's clusters (unknown names, overlaps, empty waves), so a
typo fails the render that introduces it, not a promotion days later. `assign` says
which clusters each wave takes: a cluster belongs to the first wave that selects it, the
last wave takes the rest, and `percent` takes that share (rounded up) of the
environment's matching clusters in a stable order (the SHA-256 of the name), so the same
stores go first every time.
"""

from __future__ import annotations

import hashlib
import math
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.clock import parse_time
from pipeline.config.model import Cluster, Environment, Freeze, Promotion, Wave, Window
from pipeline.config.schema import Document
from pipeline.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(text: str, where: str) -> int:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ConfigError(f"{where}: {text} is not a time of day (00:00 to 23:59)")
    return hours * 60 + minutes


def _window(doc: Document, key: tuple[str | int, ...], item: Mapping[str, Any]) -> Window:
    start_text, end_text = str(item["hours"]).split("-")
    start = _minutes(start_text, doc.at(*key, "hours"))
    end = _minutes(end_text, doc.at(*key, "hours"))
    if start == end:
        raise ConfigError(f"{doc.at(*key, 'hours')}: {item['hours']} is empty (start and end "
                          "are the same); use 00:00-23:59 for the whole day")
    zone = str(item["timezone"])
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{doc.at(*key, 'timezone')}: {zone!r} is not an IANA time zone "
                          "(e.g. Europe/Berlin, America/New_York, UTC)") from None
    days = frozenset(DAYS.index(d) for d in item.get("days", DAYS))
    return Window(days, start, end, zone)


def _freeze(doc: Document, key: tuple[str | int, ...], item: Mapping[str, Any]) -> Freeze:
    start = parse_time(item["from"], doc.at(*key, "from"))
    end = parse_time(item["to"], doc.at(*key, "to"))
    if end <= start:
        raise ConfigError(f"{doc.at(*key, 'to')}: {item['to']} is not after from "
                          f"({item['from']})")
    return Freeze(start, end, str(item.get("reason", "no reason given")))


def _wave(item: Mapping[str, Any]) -> Wave:
    return Wave(item["name"], tuple(item.get("clusters", ())), tuple(item.get("classes", ())),
                tuple(item.get("sites", ())), dict(item.get("labels", {})),
                item.get("percent"), item.get("soak"), tuple(item.get("requires", ())))


def parse(doc: Document, index: int, item: Mapping[str, Any]) -> Promotion:
    """Environment `index`'s promotion block (the schema has checked its shape)."""
    key: tuple[str | int, ...] = ("environments", index, "promotion")
    windows = tuple(_window(doc, (*key, "windows", i), w)
                    for i, w in enumerate(item.get("windows", ())))
    freezes = tuple(_freeze(doc, (*key, "freezes", i), f)
                    for i, f in enumerate(item.get("freezes", ())))
    waves = tuple(_wave(w) for w in item.get("waves", ()))
    seen: dict[str, int] = {}
    for i, wave in enumerate(waves):
        if wave.name in seen:
            raise ConfigError(f"{doc.at(*key, 'waves', i, 'name')}: wave {wave.name!r} is "
                              f"already waves[{seen[wave.name]}]")
        seen[wave.name] = i
    return Promotion(item["from"], item.get("soak"), tuple(item.get("requires", ())),
                     bool(item.get("pullRequest", False)), bool(item.get("auto", False)),
                     windows, freezes, waves)


@dataclass(frozen=True)
class Assigned:
    """A wave and the clusters it takes, sorted by name."""

    wave: Wave
    clusters: tuple[str, ...]


def _order(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _matches(wave: Wave, cluster: Cluster) -> bool:
    return ((not wave.clusters or cluster.name in wave.clusters)
            and (not wave.classes or cluster.class_name in wave.classes)
            and (not wave.sites or cluster.site in wave.sites)
            and all(cluster.labels.get(k) == v for k, v in wave.labels.items()))


class EmptyWave(ConfigError):
    """A wave that takes no cluster."""

    def __init__(self, index: int, wave: Wave) -> None:
        self.index = index
        super().__init__(f"wave {wave.name} takes no cluster of the environment "
                         "(earlier waves took them, or none match): remove it or change its "
                         "selectors")


def assign(waves: Sequence[Wave], clusters: Iterable[Cluster]) -> tuple[Assigned, ...]:
    """The clusters of each wave; EmptyWave if one would take none."""
    members = sorted(clusters, key=lambda c: c.name)
    free = {c.name: c for c in members}
    found: list[Assigned] = []
    for index, wave in enumerate(waves):
        if index == len(waves) - 1:
            chosen = sorted(free)
        else:
            candidates = [c for c in free.values() if _matches(wave, c)]
            if wave.percent is not None:
                eligible = sum(1 for c in members if _matches(wave, c))
                count = math.ceil(eligible * wave.percent / 100)
                candidates = sorted(candidates, key=lambda c: _order(c.name))[:count]
            chosen = sorted(c.name for c in candidates)
        if not chosen:
            raise EmptyWave(index, wave)
        for name in chosen:
            del free[name]
        found.append(Assigned(wave, tuple(chosen)))
    return tuple(found)


def check_waves(doc: Document, envs: Sequence[Environment],
                clusters: Mapping[str, Cluster]) -> None:
    """Each waved environment's waves against its clusters: names that are clusters of it,
    no cluster named by two waves, no empty wave."""
    for index, env in enumerate(envs):
        if env.promotion is None or not env.promotion.waves:
            continue
        key: tuple[str | int, ...] = ("environments", index, "promotion", "waves")
        mine = [c for c in clusters.values() if c.environment == env.name]
        named: dict[str, str] = {}
        for i, wave in enumerate(env.promotion.waves):
            for j, name in enumerate(wave.clusters):
                cluster = clusters.get(name)
                if cluster is None:
                    raise ConfigError(f"{doc.at(*key, i, 'clusters', j)}: {name!r} is not a "
                                      f"cluster (there is no fleet/clusters/{name}.yaml)")
                if cluster.environment != env.name:
                    raise ConfigError(f"{doc.at(*key, i, 'clusters', j)}: {name!r} is a "
                                      f"cluster of {cluster.environment}, not of {env.name}")
                if name in named:
                    raise ConfigError(f"{doc.at(*key, i, 'clusters', j)}: {name} is already in "
                                      f"wave {named[name]}; a cluster belongs to one wave")
                named[name] = wave.name
        try:
            assign(env.promotion.waves, mine)
        except EmptyWave as e:
            raise ConfigError(f"{doc.at(*key, e.index)}: {e}") from None
