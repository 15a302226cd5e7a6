"""Prometheus metrics: requests by operation and status, provider calls, database errors.

Under `integrations-api prod` PROMETHEUS_MULTIPROC_DIR is set before this module is imported, so every
worker writes its samples to files there and /metrics adds up all workers.
"""
from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

# Labels are operationIds, statuses, provider call names and exception class names: a small fixed set,
# never ids, paths or anything a caller chooses.
REQUEST_SECONDS = Histogram(
    "integrations_http_request_duration_seconds",
    "Time to answer an HTTP request, by operationId and status (its _count is the number of requests)",
    ["operation", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROVIDER_SECONDS = Histogram(
    "integrations_provider_call_duration_seconds",
    "Time of a call to a messaging provider, by provider and call",
    ["provider", "call"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_ERRORS = Counter(
    "integrations_provider_errors_total",
    "Provider calls that failed, by provider, call and error code",
    ["provider", "call", "code"],
)
DATABASE_ERRORS = Counter(
    "integrations_database_errors_total",
    "Database operations that failed, by exception type",
    ["error"],
)


# The labelled histograms by (operation, status): a few dozen at most (the labels are a fixed set, see
# above), looked up here instead of through labels(), which validates and locks on every call.
_REQUEST_CHILDREN: dict[tuple[str, int], Any] = {}


def observe_request(operation: str, status: int, seconds: float) -> None:
    """Record one answered HTTP request."""
    child = _REQUEST_CHILDREN.get((operation, status))
    if child is None:
        child = _REQUEST_CHILDREN.setdefault((operation, status), REQUEST_SECONDS.labels(operation, str(status)))
    child.observe(seconds)


def count_database_error(exc: BaseException) -> None:
    """Record one failed database operation."""
    DATABASE_ERRORS.labels(type(exc).__name__).inc()


def exposition() -> bytes:
    """Every metric in Prometheus' text format, added up over all workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


CONTENT_TYPE = CONTENT_TYPE_LATEST
