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
