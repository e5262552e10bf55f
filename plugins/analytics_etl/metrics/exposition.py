"""Prometheus's text exposition format (0.0.4), written by hand: what the Pushgateway accepts.

A dozen lines instead of a new dependency: `prometheus_client` is not in the pinned environment, and
the platform only needs to render one group of samples per run (no registry, no scraping).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = Mapping[str, str]


@dataclass
class Family:
    """One metric: its name, type, help and samples (suffix, labels, value)."""

    name: str
    kind: str  # gauge, counter, histogram
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, dict(labels), float(value)))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(families: Iterable[Family]) -> str:
    """The text body of a push: HELP and TYPE once per family, then its samples."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {family.help.replace(chr(92), chr(92) * 2)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for suffix, labels, value in family.samples:
            rendered = ",".join(f'{key}="{_escape(str(v))}"' for key, v in labels.items())
            lines.append(f"{family.name}{suffix}{{{rendered}}} {_number(value)}" if rendered
                         else f"{family.name}{suffix} {_number(value)}")  # fmt: skip
    return "\n".join(lines) + "\n"
