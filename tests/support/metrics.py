"""Reading Prometheus' text format in tests."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def value(text: str, name: str, **labels: str) -> float:
    """One sample of the scraped text (0 when it was never recorded)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def total(text: str, name: str) -> float:
    """The sum of a metric's samples over all its labels."""
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)
