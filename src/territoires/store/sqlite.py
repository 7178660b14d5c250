"""The embedded backend: one SQLite file per tenant (WAL, JSON1, R*Tree), nothing to start.

Layout of a tenant file:
- ``entities(rid, id, shape, ngeo, doc)``: one row per entity, ``doc`` its internal form as
  JSON; ``rid`` gives the stable creation order that pagination and cursors follow.
- ``shapes(shape, key, types, attrs)``: the distinct (types, attribute names and kinds)
  combinations. Entities of one kind share a shape, so type filters and discovery read
  this small table instead of every entity.
- ``geo``: an R*Tree of every GeoProperty instance (see ``sqlite_geo``).
- ``contexts``: the tenant's stored JSON-LD contexts.

A registry file ``territoires.db`` maps tenant names to their files. A file per tenant keeps
tenants apart by construction and lets tenants write concurrently.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.model import Entity
from territoires.store import sqlite_checkpoint, sqlite_devices, sqlite_filters, sqlite_geo, sqlite_values
from territoires.store.commit_group import CommitGroup, Savepoints
from territoires.store.conditions import Compilers, conditions
from territoires.store.cursors import after_rid, page
from territoires.store.port import (
    DEFAULT_TENANT,
    EntityQuery,
    QueryPage,
    Store,
    StoredContext,
    TenantSession,
    TypeInfo,
    Unavailable,
    chunks,
)
from territoires.store.records import check_new, document, stored_context
from territoires.store.shapes import ShapeKey, shape_key, shape_record, type_infos
from territoires.store.sqlite_access import ACCESS_SCHEMA, SqliteAccess
from territoires.store.sqlite_audit import AUDIT_SCHEMA, SqliteAudit
from territoires.store.sqlite_outbox import OUTBOX_SCHEMA, DueTenants, SqliteOutbox, SqliteOutboxDelivery
from territoires.store.sqlite_quotas import QUOTAS_SCHEMA, SqliteEntityCount, SqliteQuotas
from territoires.store.sqlite_rows import execute_rows
from territoires.store.sqlite_subscriptions import SUBSCRIPTIONS_SCHEMA, SqliteSubscriptions
from territoires.store.sqlite_temporal import HISTORY_SCHEMA, SqliteTemporal, number_series_by_entity
from territoires.store.sqlite_text import TEXT_SCHEMA, SqliteText, set_ranking
from territoires.store.staging import Staged
from territoires.store.temporal_common import to_micros
from territoires.store.value_index import EXPIRES_AT, Verdicts, entity_scalars

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS entities(
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    shape INTEGER NOT NULL,
    ngeo INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_by_shape ON entities(shape, rid);
CREATE TABLE IF NOT EXISTS shapes(
    shape INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    types TEXT NOT NULL,
    attrs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contexts(
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_usage TEXT,
    hits INTEGER NOT NULL DEFAULT 0
);
"""
    + sqlite_geo.GEO_SCHEMA
    + ";"
    + sqlite_values.VALUES_SCHEMA
    + sqlite_devices.FRAMES_SCHEMA
    + SUBSCRIPTIONS_SCHEMA
    + OUTBOX_SCHEMA
    + HISTORY_SCHEMA
    + AUDIT_SCHEMA
    + TEXT_SCHEMA
)

REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants(
    name TEXT PRIMARY KEY,
    file TEXT NOT NULL UNIQUE
);
"""

# Version of the tenant file layout (PRAGMA user_version); see _Tenant.upgrade.
LAYOUT_VERSION = 5

# Statements bind at most this many parameters at once (SQLite's limit is 32766).
BIND_CHUNK = 500


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints are the Checkpointer's job; a writer checkpoints only past a large WAL.
    conn.execute(f"PRAGMA wal_autocheckpoint={sqlite_checkpoint.BACKSTOP_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit={sqlite_checkpoint.WAL_SIZE_LIMIT}")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB of page cache per connection
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA mmap_size=67108864")  # mapped pages count in RSS: keep it modest
    return conn


# Seconds between attempts to switch a new database file to WAL, then the last attempt.
_WAL_RETRIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (a file keeps it once set). Processes opening a new file together,
    as the workers of a first start do, each read it then ask for the exclusive lock the switch
    needs: SQLite answers all but one "database is locked" at once, without its busy timeout,
    since waiting could deadlock. Another attempt a moment later finds the switch made."""
    for delay in (*_WAL_RETRIES, None):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if delay is None or getattr(error, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            time.sleep(delay)


# Errors of the database's surroundings (a full disk, files that cannot be opened, I/O, memory,
# a lock held too long): the same request may succeed later, answered 503 with Retry-After.
_TRANSIENT = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
                        sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN})


@contextmanager
def _transient_as_unavailable() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _TRANSIENT:
            raise Unavailable(f"the embedded database cannot be used now: {error}") from error
        raise


class _Tenant:
    """One open tenant database: a connection that writes, one that reads, and caches.

    WAL lets the reading connection see the last commit while the writing one is inside a
    transaction, so reads never wait for writes of this process or of others."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = _connect(path)
        self.conn.executescript(SCHEMA)
        self.reader = _connect(path)
        for conn in (self.conn, self.reader):
            set_ranking(conn)
            sqlite_filters.register_functions(conn)
            sqlite_geo.register_functions(conn)
        self.read_lock = threading.RLock()  # a nested read fails on its BEGIN rather than waiting forever
        self.shapes: dict[ShapeKey, int] = {}
        self.names: dict[str, int] = {}  # attribute IRI -> id in the value index
        self.verdicts = Verdicts()  # which q terms the index narrows to
        # Writers of other processes queue on this lock and wake as soon as it is free, where
        # SQLite's own busy handler would poll with sleeps of up to 100 ms.
        self.write_lock = open(str(path) + ".lock", "a+b")  # noqa: SIM115 - lives as long as the tenant
        self.writes = CommitGroup(lambda: WriteTransaction(self))
        self.upgrade()

    def upgrade(self) -> None:
        """Bring an older tenant file to ``LAYOUT_VERSION``: version 1 added the value index,
        version 2 gave an audit record several attributes (one column, renamed), version 3 has
        frames forgotten by when they were recorded (a column, and its index in place of the
        uplink time's), version 4 numbers history series by entity (``number_series_by_entity``),
        version 5 indexes the expiries of transient entities (``value_index.EXPIRES_AT``)."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= LAYOUT_VERSION:
            return
        transaction = WriteTransaction(self)
        session = SqliteSession(self, self.conn)
        try:
            if version < 5:  # rewritten, an entity gets the index rows of today's layout
                which = "" if version < 1 else " WHERE instr(doc, '\"expiresAt\"') > 0"
                docs = self.conn.execute(f"SELECT doc FROM entities{which}")
                session.replace([orjson.loads(doc) for (doc,) in docs])
            # Checked in the transaction: another process may have renamed it since.
            if any(name == "attribute" for _, name, *_ in self.conn.execute("PRAGMA table_info(audit)")):
                self.conn.execute("ALTER TABLE audit RENAME COLUMN attribute TO attributes")
            if not any(name == "seen" for _, name, *_ in self.conn.execute("PRAGMA table_info(frames)")):
                self.conn.execute("ALTER TABLE frames ADD COLUMN seen INTEGER NOT NULL DEFAULT 0")
                self.conn.execute("UPDATE frames SET seen = at")  # the best guess left: its uplink time
            self.conn.execute("DROP INDEX IF EXISTS frames_by_time")
            self.conn.execute("CREATE INDEX IF NOT EXISTS frames_by_seen ON frames(seen)")
            number_series_by_entity(self.conn)
            self.conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")
        except BaseException:
            transaction.abandon()
            raise
        transaction.commit()
        self.shapes.update(session.new_shapes)
        self.names.update(session.new_names)

    def alive(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        self.conn.close()
        self.reader.close()
        self.write_lock.close()


class _Parts(NamedTuple):
    """What the rows of an entity hold that depends on the entity alone (no row number, no id
    of the tenant file): prepared outside the write lock when staged."""

    doc: str
    geo: list[sqlite_geo.GeoPart]
    scalars: list[tuple[str, Any]]
    shape: ShapeKey


def _parts(entity: Entity) -> _Parts:
    return _Parts(document(entity), sqlite_geo.geo_parts(entity), list(entity_scalars(entity)), shape_key(entity))


class WriteTransaction(Savepoints):
    """A write transaction on a tenant file, holding its lock across processes."""

    def __init__(self, tenant: _Tenant) -> None:
        self.conn = tenant.conn
        self._lock = tenant.write_lock
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            raise

    def intact(self) -> bool:
        return self.conn.in_transaction

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        fcntl.flock(self._lock, fcntl.LOCK_UN)

    def abandon(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)


class SqliteStore(sqlite_devices.SqliteDeviceRegistry, SqliteAccess, SqliteQuotas, SqliteOutboxDelivery, Store):
    writes_wait_on_lock = True  # one writer per tenant file, across processes (flock)

    def __init__(self, data_dir: Path | str, *, use_value_index: bool = True) -> None:
        # ``use_value_index=False`` answers q by scanning only: the tests compare both ways.
        self.use_value_index = use_value_index
        self.data_dir = Path(data_dir)
        (self.data_dir / "tenants").mkdir(parents=True, exist_ok=True)
        self._registry = _connect(self.data_dir / "territoires.db")
        self._registry.executescript(REGISTRY_SCHEMA + sqlite_devices.REGISTRY_SCHEMA + ACCESS_SCHEMA + QUOTAS_SCHEMA)
        self._registry_lock = threading.Lock()
        self._open: dict[str, _Tenant] = {}
        self._open_lock = threading.Lock()
        self._checkpointer = sqlite_checkpoint.Checkpointer()
        self._due_tenants = DueTenants()

    # ---- tenants ------------------------------------------------------------------------
    def _file_of(self, tenant: str) -> Path | None:
        if tenant == DEFAULT_TENANT:
            return self.data_dir / "default.db"
        with self._registry_lock:
            row = self._registry.execute("SELECT file FROM tenants WHERE name = ?", (tenant,)).fetchone()
        return self.data_dir / "tenants" / row[0] if row else None

    def _tenant(self, tenant: str) -> _Tenant:
        handle = self._open.get(tenant)
        if handle is not None and (tenant == DEFAULT_TENANT or handle.alive()):
            return handle
        with self._open_lock:
            handle = self._open.get(tenant)  # another thread may have opened it meanwhile
            if handle is not None and (tenant == DEFAULT_TENANT or handle.alive()):
                return handle
            stale = self._open.pop(tenant, None)
            if stale is not None:
                stale.close()
            path = self._file_of(tenant)
            if path is None or (tenant != DEFAULT_TENANT and not path.exists()):
                raise NonexistentTenant(f"tenant {tenant!r} does not exist; create it with /admin/v1/tenants")
            handle = self._open[tenant] = _Tenant(path)
            return handle

    def create_tenant(self, tenant: str) -> None:
        with self._registry_lock:
            exists = self._registry.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
            if exists:
                raise AlreadyExists(f"tenant {tenant!r} already exists")
            next_id = self._registry.execute("SELECT coalesce(max(rowid), 0) + 1 FROM tenants").fetchone()[0]
            file = f"t{next_id}-{os.urandom(4).hex()}.db"
            _Tenant(self.data_dir / "tenants" / file).close()
            self._registry.execute("INSERT INTO tenants(name, file) VALUES (?, ?)", (tenant, file))

    def delete_tenant(self, tenant: str) -> None:
        if tenant == DEFAULT_TENANT:
            raise BadRequestData("the default tenant cannot be deleted")
        path = self._file_of(tenant)
        if path is None:
            raise ResourceNotFound(f"tenant {tenant!r} does not exist")
        with self._registry_lock:
            self._registry.execute("DELETE FROM tenants WHERE name = ?", (tenant,))
            self._forget_devices_of(tenant)
            self._forget_access_of(tenant)
            self._forget_quotas_of(tenant)
        with self._open_lock:
            handle = self._open.pop(tenant, None)
            if handle is not None:
                with handle.writes.paused(), handle.read_lock:
                    handle.close()
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    def tenants(self) -> list[str]:
        with self._registry_lock:
            return [row[0] for row in self._registry.execute("SELECT name FROM tenants ORDER BY name")]

    def stage(self, entities: Sequence[Entity]) -> Staged:
        return Staged.of(entities, _parts)

    @contextmanager
    def session(self, tenant: str, *, write: bool = False) -> Iterator[TenantSession]:
        with _transient_as_unavailable():
            yield from self._session(tenant, write)

    def _session(self, tenant: str, write: bool) -> Iterator[TenantSession]:
        handle = self._tenant(tenant)
        if not write:
            with handle.read_lock:
                handle.reader.execute("BEGIN")
                try:
                    yield SqliteSession(handle, handle.reader, self.use_value_index)
                except BaseException:
                    handle.reader.execute("ROLLBACK")
                    raise
                handle.reader.execute("COMMIT")
            return
        with handle.writes.session() as transaction:
            session = SqliteSession(handle, transaction.conn, self.use_value_index)
            yield session
        self._outbox_committed(tenant, session)
        handle.shapes.update(session.new_shapes)
        handle.names.update(session.new_names)
        self._checkpointer.written(handle.path)

    def close(self) -> None:
        self._checkpointer.close()
        with self._open_lock:
            for handle in self._open.values():
                handle.close()
            self._open.clear()
        self._registry.close()


class SqliteSession(SqliteTemporal, sqlite_devices.SqliteFrames, SqliteSubscriptions, SqliteOutbox, SqliteAudit,
                    SqliteEntityCount, SqliteText, TenantSession):
    def __init__(self, tenant: _Tenant, conn: sqlite3.Connection, use_value_index: bool = True) -> None:
        self.use_value_index = use_value_index
        self.tenant = tenant
        self.conn = conn
        self.new_shapes: dict[ShapeKey, int] = {}
        self.new_names: dict[str, int] = {}
        self.staged = Staged()
        # (rid, ngeo, shape) of entities read or written by this session, which writes them only
        # through its own methods: a read then a rewrite of the same entities looks them up once.
        self._located: dict[str, tuple[int, int, int]] = {}

    # ---- writing ------------------------------------------------------------------------
    def use_staged(self, staged: Sequence[object]) -> None:
        self.staged = Staged.combined(staged)

    def _shape_id(self, key: ShapeKey) -> int:
        known = self.tenant.shapes.get(key) or self.new_shapes.get(key)
        if known is not None:
            return known
        text, types, attrs = shape_record(key)
        self.conn.execute(
            "INSERT OR IGNORE INTO shapes(key, types, attrs) VALUES (?, ?, ?)",
            (text, orjson.dumps(types).decode(), orjson.dumps(attrs).decode()),
        )
        shape = self.conn.execute("SELECT shape FROM shapes WHERE key = ?", (text,)).fetchone()[0]
        self.new_shapes[key] = shape
        return shape

    def _name_id(self, iri: str) -> int:
        known = self.tenant.names.get(iri) or self.new_names.get(iri)
        if known is not None:
            return known
        self.conn.execute("INSERT OR IGNORE INTO names(iri) VALUES (?)", (iri,))
        name = self.conn.execute("SELECT name FROM names WHERE iri = ?", (iri,)).fetchone()[0]
        self.new_names[iri] = name
        return name

    def _forget_rows(self, rids: list[tuple[int, int]]) -> None:
        """Remove the index rows (geo and values) of entities given as (rid, number of geo rows)."""
        execute_rows(self.conn, "DELETE FROM geo WHERE gid IN (VALUES {rows})",
                     [(rid * sqlite_geo.MAX_INSTANCES + k,) for rid, ngeo in rids for k in range(ngeo)])
        execute_rows(self.conn, "DELETE FROM attr_values WHERE rid IN (VALUES {rows})", [(rid,) for rid, _ in rids])

    def _by_id(self, columns: str, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """(id, *columns) of the stored entities among ``ids``, in statements of bounded size."""
        for part in chunks(ids, BIND_CHUNK):
            marks = ",".join("?" * len(part))
            yield from self.conn.execute(f"SELECT id, {columns} FROM entities WHERE id IN ({marks})", tuple(part))

    def _existing(self, ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """rid, number of geo rows and shape of the stored entities among ids."""
        located = self._located
        unknown = [eid for eid in ids if eid not in located]
        if unknown:
            located.update((eid, (rid, ngeo, shape)) for eid, rid, ngeo, shape in self._by_id("rid, ngeo, shape", unknown))
        return {eid: located[eid] for eid in ids if eid in located}

    def _next_rid(self) -> int:
        return self.conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM entities").fetchone()[0]

    def _write(self, entities: Sequence[Entity], existing: dict[str, tuple[int, int, int]]) -> None:
        """Write whole entities; those in ``existing`` keep their rid (creation order)."""
        inserts, updates, documents, geo_rows, value_rows = [], [], [], [], []
        rewritten: dict[int, tuple[int, list[Any], list[Any]]] = {}
        next_rid = self._next_rid()
        names = self.tenant.names

        def name_id(iri: str) -> int:
            return names.get(iri) or self._name_id(iri)

        for entity in entities:
            parts = self.staged.parts(entity) or _parts(entity)
            known = existing.get(entity["id"])
            if known is None:
                rid, next_rid = next_rid, next_rid + 1
                existing[entity["id"]] = (rid, 0, 0)
            else:
                rid = known[0]
            entity_geo = sqlite_geo.geo_rows(rid, parts.geo)
            entity_values = sqlite_values.value_rows(rid, parts.scalars, name_id)
            shape = self._shape_id(parts.shape)
            if known:
                if (known[1], known[2]) == (len(parts.geo), shape):  # the usual rewrite: the document alone
                    documents.append((rid, parts.doc))
                else:
                    updates.append((rid, shape, len(parts.geo), parts.doc))
                rewritten[rid] = (known[1], entity_geo, entity_values)
            else:
                inserts.append((rid, entity["id"], shape, len(parts.geo), parts.doc))
                geo_rows.extend(entity_geo)
                value_rows.extend(entity_values)
            self._located[entity["id"]] = (rid, len(parts.geo), shape)
        if rewritten:
            self._keep_unchanged_rows(rewritten, geo_rows, value_rows)
        execute_rows(self.conn, "INSERT INTO entities(rid, id, shape, ngeo, doc) VALUES {rows}", inserts)
        execute_rows(self.conn, "UPDATE entities SET shape = v.column2, ngeo = v.column3, doc = v.column4 "
                                "FROM (VALUES {rows}) AS v WHERE entities.rid = v.column1", updates)
        # Setting the shape, even to its value, would rewrite its index row.
        execute_rows(self.conn, "UPDATE entities SET doc = v.column2 FROM (VALUES {rows}) AS v "
                                "WHERE entities.rid = v.column1", documents)
        execute_rows(self.conn, "INSERT INTO geo(gid, min_x, max_x, min_y, max_y, rid, attr, geometry) VALUES {rows}",
                     geo_rows)
        execute_rows(self.conn, "INSERT OR IGNORE INTO attr_values(name, value, rid) VALUES {rows}", value_rows)

    def _keep_unchanged_rows(self, rewritten: dict[int, tuple[int, list[Any], list[Any]]],
                             geo_rows: list[Any], value_rows: list[Any]) -> None:
        """Entities rewritten in place, as rid -> (number of geo rows stored, new geo rows, new
        value rows): delete their stored index rows that changed, and add to ``geo_rows`` and
        ``value_rows`` those to insert. A measure updates a few values of a sensor that does not
        move: rewriting every row would cost several times more (an R*Tree row above all)."""
        gids = [rid * sqlite_geo.MAX_INSTANCES + k for rid, (ngeo, _, _) in rewritten.items() for k in range(ngeo)]
        stored_geo = {gid: (attr, text) for part in chunks(gids, BIND_CHUNK) for gid, attr, text in self.conn.execute(
            f"SELECT gid, attr, geometry FROM geo WHERE gid IN ({','.join('?' * len(part))})", part)}
        rids = list(rewritten)
        stored_values = {row for part in chunks(rids, BIND_CHUNK) for row in self.conn.execute(
            f"SELECT name, value, rid FROM attr_values WHERE rid IN ({','.join('?' * len(part))})", part)}
        fresh_values, doomed_gids = set(), []
        for _, new_geo, new_values in rewritten.values():
            for row in new_geo:
                stored = stored_geo.pop(row[0], None)
                if stored != (row[6], row[7]):  # (attr, geometry): the box follows from them
                    geo_rows.append(row)
                    if stored is not None:
                        doomed_gids.append(row[0])
            fresh_values.update(new_values)
        doomed_gids.extend(stored_geo)  # stored rows that no new row replaces
        execute_rows(self.conn, "DELETE FROM geo WHERE gid IN (VALUES {rows})", [(gid,) for gid in doomed_gids])
        execute_rows(self.conn, "WITH doomed(name, value, rid) AS (VALUES {rows}) "
                                "DELETE FROM attr_values WHERE (name, value, rid) IN doomed", list(stored_values - fresh_values))
        value_rows.extend(fresh_values - stored_values)

    def insert(self, entities: Sequence[Entity]) -> None:
        check_new([e["id"] for e in entities], self._existing)
        self._write(entities, {})

    def replace(self, entities: Sequence[Entity]) -> None:
        self._write(entities, self._existing([e["id"] for e in entities]))

    def delete(self, ids: Sequence[str]) -> set[str]:
        existing = self._existing(ids)
        if not existing:
            return set()
        for eid in existing:
            del self._located[eid]
        located = [(rid, ngeo) for rid, ngeo, _ in existing.values()]
        self._forget_rows(located)
        self.conn.executemany("DELETE FROM entities WHERE rid = ?", [(rid,) for rid, _ in located])
        return set(existing)

    def delete_matching(self, query: EntityQuery) -> int:
        where, params = self._where(query)
        matched = self.conn.execute(
            f"SELECT rid, ngeo FROM entities e WHERE {' AND '.join(where) or '1'}", tuple(params)
        ).fetchall()
        self._located.clear()
        self._forget_rows(matched)
        self.conn.executemany("DELETE FROM entities WHERE rid = ?", [(rid,) for rid, _ in matched])
        return len(matched)

    # ---- reading ------------------------------------------------------------------------
    def expired(self, until: str, limit: int) -> list[str]:
        name = self.tenant.names.get(EXPIRES_AT) or sqlite_values.name_of(self.conn, EXPIRES_AT)
        if name is None:  # no entity of the tenant was ever transient
            return []
        return [eid for (eid,) in self.conn.execute(
            "SELECT e.id FROM entities e WHERE e.rid IN (SELECT rid FROM attr_values WHERE name = ? AND value <= ?) "
            "LIMIT ?", (name, to_micros(until), limit))]

    def created_at(self, ids: Sequence[str]) -> dict[str, str]:
        return dict(self._by_id("json_extract(doc, '$.createdAt')", ids))

    def get(self, ids: Sequence[str]) -> dict[str, Entity]:
        found = {}
        for eid, doc, rid, ngeo, shape in self._by_id("doc, rid, ngeo, shape", ids):
            found[eid] = orjson.loads(doc)
            self._located[eid] = (rid, ngeo, shape)
        return found

    def _where(self, query: EntityQuery) -> tuple[list[str], list[Any]]:
        where, params = conditions(query, COMPILERS)
        if query.q is not None and self.use_value_index:  # first: SQLite tests conditions in order
            for condition, args in reversed(sqlite_values.prefilters(self.conn, query.q, self.tenant.names,
                                                                         self.tenant.verdicts)):
                where.insert(0, condition)
                params[:0] = args
        return where, params

    def query(self, query: EntityQuery) -> QueryPage:
        where, params = self._where(query)
        page_where, page_params = list(where), list(params)
        after = after_rid(query)
        if after is not None:
            page_where.append("e.rid > ?")
            page_params.append(after)
        clause = " AND ".join(page_where) or "1"
        order, order_params = sqlite_filters.compile_order_by(query.order_by, query.collation, query.order_from)
        rows = []
        if query.limit > 0:
            rows = self.conn.execute(
                f"SELECT e.rid, e.doc FROM entities e WHERE {clause} ORDER BY {order + ', ' if order else ''}e.rid "
                "LIMIT ? OFFSET ?",
                (*page_params, *order_params, query.limit, query.offset),
            ).fetchall()
        count = None
        if query.count:
            count = self.conn.execute(
                f"SELECT count(*) FROM entities e WHERE {' AND '.join(where) or '1'}", tuple(params)
            ).fetchone()[0]
        return page(rows, count, query, orjson.loads)

    def types(self) -> list[TypeInfo]:
        return type_infos(
            (orjson.loads(types), orjson.loads(attrs), count)
            for types, attrs, count in self.conn.execute(
                "SELECT s.types, s.attrs, n FROM (SELECT shape, count(*) AS n FROM entities GROUP BY shape) AS c "
                "JOIN shapes s ON s.shape = c.shape"
            )
        )

    # ---- contexts -----------------------------------------------------------------------
    def put_context(self, context: StoredContext) -> None:
        try:
            self.conn.execute(
                "INSERT INTO contexts(id, kind, body, created_at, last_usage, hits) VALUES (?, ?, ?, ?, ?, ?)",
                (context.id, context.kind, orjson.dumps(context.body).decode(), context.created_at,
                 context.last_usage, context.number_of_hits),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"a context with id {context.id} is already stored") from None

    def get_context(self, context_id: str) -> StoredContext | None:
        row = self.conn.execute(
            "SELECT id, kind, body, created_at, last_usage, hits FROM contexts WHERE id = ?", (context_id,)
        ).fetchone()
        return stored_context(row) if row else None

    def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        sql = "SELECT id, kind, body, created_at, last_usage, hits FROM contexts"
        params: tuple[Any, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        return [stored_context(row) for row in self.conn.execute(sql + " ORDER BY rowid", params)]

    def delete_context(self, context_id: str) -> bool:
        return self.conn.execute("DELETE FROM contexts WHERE id = ?", (context_id,)).rowcount > 0

    def touch_context(self, context_id: str, when: str, uses: int = 1) -> None:
        self.conn.execute("UPDATE contexts SET hits = hits + ?, last_usage = ? WHERE id = ?", (uses, when, context_id))


COMPILERS = Compilers.of(sqlite_filters, sqlite_geo)
