"""The stores the broker is benchmarked on. Each tells a broker where a new, empty store is,
measures the raw storage limit on the same database, and, for a database server, its memory.

PostgreSQL runs in a cluster of its own started by ``scripts/pg-test-cluster`` with its
``bench`` profile: durable settings as in production (fsync, synchronous commits and
full-page writes on), 1 GB of shared buffers, 4 GB of WAL between checkpoints.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from bench.rawdb import Row, StoredRows, raw_copy_rate, raw_insert_rate, stored_rows_copy_rate, stored_rows_rate
from bench.server import REPO, Memory, descendants, process_memory_mb
from territoires.store.port import DEFAULT_TENANT

CLUSTER_SCRIPT = REPO / "scripts" / "pg-test-cluster"
# What the JSON results record of the cluster's configuration.
_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
             "effective_cache_size", "work_mem", "maintenance_work_mem", "max_wal_size", "random_page_cost")


class BackendError(RuntimeError):
    """The store could not be set up."""


class Backend(ABC):
    name: str
    # Upsert targets: entities/s (None: no absolute target) and share of the raw limit.
    upsert_target: float | None
    upsert_target_ratio: float
    # What the upsert limit is, for the reader.
    raw_limit: str
    # How the database is configured, for the JSON results (complete once open).
    configuration: dict[str, Any]

    @abstractmethod
    def open(self) -> None:
        """Start what the store needs."""

    @abstractmethod
    def store_env(self, name: str) -> dict[str, str]:
        """Environment variables that point a broker at a new, empty store called ``name``."""

    def settle(self, name: str) -> None:
        """Bring store ``name`` to its steady state after a bulk load, before it is queried."""

    @abstractmethod
    def raw_rate(self, batches: Sequence[Sequence[Row]]) -> float:
        """The raw limit: rows per second of these batches written straight into the database."""

    @abstractmethod
    def stored_rows_rate(self, name: str, data_dir: Path, entities: int, transactions: int,
                         clients: int) -> StoredRows:
        """The second raw limit: entities per second of the rows the broker wrote in store
        ``name`` (its data folder ``data_dir``), copied raw into a new store of the same tables
        in ``transactions`` transactions, by as many writers as the load had ``clients`` where
        the database takes several at once."""

    @abstractmethod
    def server_memory(self) -> Memory | None:
        """Memory of the database server's processes, when the database is a server."""

    @abstractmethod
    def close(self) -> None:
        """Stop what ``open`` started."""


class SqliteBackend(Backend):
    """The embedded store: one SQLite file per tenant under the broker's data folder."""

    name = "sqlite"
    upsert_target = 20_000
    upsert_target_ratio = 0.40
    raw_limit = "executemany into a SQLite file"

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.configuration = {"sqlite_version": sqlite3.sqlite_version}

    def open(self) -> None:
        pass  # nothing to start: the broker opens its files itself

    def store_env(self, name: str) -> dict[str, str]:
        return {"TERRITOIRES_DATABASE_URL": ""}  # the broker's own --data-dir is the store

    def raw_rate(self, batches: Sequence[Sequence[Row]]) -> float:
        return raw_insert_rate(self.work_dir / "raw.sqlite", batches)

    def stored_rows_rate(self, name: str, data_dir: Path, entities: int, transactions: int,
                         clients: int) -> StoredRows:
        target = self.work_dir / "raw-rows.sqlite"  # one writer at a time, whatever the clients
        try:
            return stored_rows_rate(data_dir / "default.db", target, entities, transactions)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)

    def server_memory(self) -> Memory | None:
        return None  # the database lives in the broker's processes

    def close(self) -> None:
        pass


class PostgresBackend(Backend):
    """PostgreSQL + PostGIS: one database per store in a cluster started for the run."""

    name = "postgres"
    upsert_target = None
    upsert_target_ratio = 0.50
    raw_limit = "COPY into the same cluster"

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.cluster_dir: Path | None = None
        self.url = ""
        self.configuration = {}

    def open(self) -> None:
        # Not under the work dir: the cluster runs as the "postgres" user, who must reach it.
        self.cluster_dir = Path(tempfile.mkdtemp(prefix="pg-bench-"))
        started = subprocess.run([str(CLUSTER_SCRIPT), "start", str(self.cluster_dir)], check=False,
                                 capture_output=True, text=True, env=dict(os.environ, PG_CLUSTER_PROFILE="bench"))
        if started.returncode != 0:
            self.close()
            raise BackendError(f"the PostgreSQL cluster did not start:\n{(started.stderr or started.stdout).strip()}")
        self.url = started.stdout.splitlines()[-1]
        try:
            self.configuration = self._describe()
        except psycopg.Error as error:
            self.close()
            raise BackendError(f"the PostgreSQL cluster started but does not answer: {error}") from error

    def _url(self, database: str) -> str:
        return urlsplit(self.url)._replace(path=f"/{database}").geturl()

    def _admin(self, statement: str, database: str) -> None:
        """CREATE or DROP a database (``statement`` names it {}); the cluster's database,
        with PostGIS installed by its superuser, is the template of new ones."""
        with psycopg.connect(self._url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(database)))

    def store_env(self, name: str) -> dict[str, str]:
        self._admin("CREATE DATABASE {} TEMPLATE territoires", name)
        return {"TERRITOIRES_DATABASE_URL": self._url(name), "TERRITOIRES_DATABASE_UPGRADE": "1"}

    def settle(self, name: str) -> None:
        # What autovacuum does within a minute of a bulk load (PostgreSQL 13 and later vacuum
        # after inserts too): the planner's statistics, and the visibility map that lets
        # index-only scans skip the table.
        with psycopg.connect(self._url(name), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

    def raw_rate(self, batches: Sequence[Sequence[Row]]) -> float:
        self._admin("CREATE DATABASE {}", "raw")
        try:
            return raw_copy_rate(self._url("raw"), batches)
        finally:
            # Gone before the broker starts: no autovacuum of it during the broker's load.
            self._admin("DROP DATABASE {}", "raw")

    def stored_rows_rate(self, name: str, data_dir: Path, entities: int, transactions: int,
                         clients: int) -> StoredRows:
        return stored_rows_copy_rate(self._url(name), DEFAULT_TENANT, entities, transactions, clients)

    def server_memory(self) -> Memory | None:
        if self.cluster_dir is None:
            return None
        postmaster = int((self.cluster_dir / "data" / "postmaster.pid").read_text().split()[0])
        return process_memory_mb(descendants(postmaster))

    def _describe(self) -> dict[str, Any]:
        with psycopg.connect(self._url("postgres")) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            rows = conn.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) "
                                "ORDER BY name", (list(_SETTINGS),)).fetchall()
        return {"server_version": version, "settings": dict(rows)}

    def close(self) -> None:
        if self.cluster_dir is None:
            return
        server_log = self.cluster_dir / "server.log"
        if server_log.exists():
            shutil.copyfile(server_log, self.work_dir / "postgres.log")
        subprocess.run([str(CLUSTER_SCRIPT), "stop", str(self.cluster_dir)], check=False, capture_output=True)
        shutil.rmtree(self.cluster_dir, ignore_errors=True)  # the script's stop removes it, unless it failed
        self.cluster_dir = None


def postgres_installed() -> bool:
    """PostgreSQL's server binaries and PostGIS, as Debian's packages lay them out."""
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")
                and glob.glob("/usr/share/postgresql/*/extension/postgis.control"))


def make_backend(name: str, work_dir: Path) -> Backend:
    return SqliteBackend(work_dir) if name == "sqlite" else PostgresBackend(work_dir)
