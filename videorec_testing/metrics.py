"""Reading a Prometheus text scrape in tests."""

from __future__ import annotations

import re


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not re.match(rf"{name}[{{ ]", line):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None
