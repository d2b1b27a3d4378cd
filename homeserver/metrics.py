"""Prometheus metrics, in a registry owned by the HomeServer (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "homeserver_http_requests", "HTTP requests served", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "homeserver_http_request_seconds", "Time to serve an HTTP request", ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
        )
        self.sync_wakeups = Counter(
            "homeserver_sync_wakeups", "Parked /sync long-polls woken, by how their answer was read",
            ["answered"], registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read when /metrics is scraped (parked long-polls, pool connections)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)
