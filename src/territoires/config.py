"""The one settings object: every knob is an environment variable ``TERRITOIRES_*``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    # Where the embedded store keeps its files (one SQLite file per tenant).
    data_dir: Path = Path("var")
    # postgresql://… selects the PostgreSQL backend instead of the embedded store.
    database_url: str = ""
    # Apply pending schema migrations when the platform starts (else: `territoires db upgrade`).
    database_upgrade: bool = False
    # Connections each process keeps to PostgreSQL.
    database_pool_size: int = 4
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # Largest request body accepted, in bytes (larger: 413 BadRequestData).
    max_body_bytes: int = 16 * 1024 * 1024
    # Most entities one page may hold (limit above it: TooManyResults).
    max_page_size: int = 1000
    # Most entities one batch operation may carry.
    max_batch_size: int = 10000
    # Remote @context URLs the broker may download (air-gapped by default: none).
    context_allow_list: tuple[str, ...] = field(default_factory=tuple)
    # Seconds to wait for an allowed remote @context.
    context_fetch_timeout: float = 5.0
    # Deleting an entity deletes its history, unless this keeps it (temporal queries by id still answer).
    keep_deleted_history: bool = False
    # LoRaWAN ingestion: the MQTT broker of the network servers' integrations (mqtt:// or
    # mqtts://, user and password in the URL if needed); empty: no ingestion bridge.
    mqtt_url: str = ""
    # Topics the bridge subscribes to: ChirpStack v4 and The Things Stack v3 uplinks.
    mqtt_topics: tuple[str, ...] = ("application/+/device/+/event/up", "v3/+/devices/+/up")
    # The bridge's MQTT client id: its persistent session (what it has not acknowledged) is kept under it.
    mqtt_client_id: str = "territoires-bridge"
    # Most uplinks written in one transaction, and longest wait to fill a batch (seconds).
    ingest_batch_size: int = 1000
    ingest_batch_wait: float = 0.05
    # Notification delivery: each serving process runs a worker (off: no delivery from it).
    notifications: bool = True
    # Seconds between two looks at the outbox when nothing wakes the worker (a write of this
    # process wakes it at once); seconds a claimed notification stays with its worker (then,
    # its worker presumed dead, it is claimed again); seconds between sweeps of every tenant
    # (periodic subscriptions, notifications left by a crashed process).
    notification_poll_interval: float = 0.2
    notification_lease: float = 60.0
    notification_sweep_interval: float = 10.0
    # Attempts before a notification becomes a dead letter; retries wait
    # base × 2^(attempt − 1) seconds, at most cap, shortened by a random part of up to half.
    notification_max_attempts: int = 8
    notification_backoff: float = 1.0
    notification_backoff_cap: float = 300.0
    # Seconds an endpoint has to take a notification (unless its endpoint.timeout says otherwise);
    # notifications in flight at once, in all and to one endpoint (host and port).
    notification_timeout: float = 10.0
    notification_concurrency: int = 256
    notification_endpoint_concurrency: int = 8

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        base = cls()
        values: dict[str, object] = {}
        prefix = "TERRITOIRES_"
        for name, current in vars(base).items():
            raw = env.get(prefix + name.upper())
            if raw is None:
                continue
            if isinstance(current, Path):
                values[name] = Path(raw)
            elif isinstance(current, bool):
                values[name] = raw.lower() in {"1", "true", "yes", "on"}
            elif isinstance(current, int):
                values[name] = int(raw)
            elif isinstance(current, float):
                values[name] = float(raw)
            elif isinstance(current, tuple):
                values[name] = _list(raw)
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(base, **values)
