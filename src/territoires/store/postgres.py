"""The production backend: PostgreSQL 15 + PostGIS 3, every tenant in one schema under
row-level security.

Layout (``postgres_migrations/``): ``tenants``, then ``entities``, ``shapes``, ``geometries`` and
``contexts``, each row carrying its tenant. A session names its tenant once with
``set_config('territoires.tenant', …, true)`` and the policies show and accept only that
tenant's rows, for the tables' owner too (FORCE): a query this module forgot to restrict still
cannot read or change another tenant. One schema for all keeps tenant creation a single
``INSERT`` and lets thousands of tenants share the same tables, indexes and migrations.

Writes: a write session takes the tenant's advisory lock, so read-modify-write in it is
atomic across processes, as the contract asks; tenants write concurrently. The write sessions
of a process queued on one tenant share a transaction (``commit_group``): one lock, one commit
and one wait for the log to reach the disk for all of them. A batch reaches
each table through ``COPY`` into staging tables (row-level security forbids ``COPY`` into the
protected tables) and one set-based statement; a few entities go in plain statements sent
in one pipeline. New entities get creation ranks (rids) reserved in one call.

A lost or refused connection is ``Unavailable`` (503 with Retry-After); a pooled connection
found broken when a session starts is replaced once, so service resumes by itself when the
database is back.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
import psycopg
import psycopg_pool
from psycopg.types.json import set_json_loads

from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.model import Entity
from territoires.store import (
    postgres_devices,
    postgres_filters,
    postgres_geo,
    postgres_schema,
    postgres_subscriptions,
    postgres_values,
)
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
)
from territoires.store.postgres_access import PostgresAccess
from territoires.store.postgres_audit import PostgresAudit
from territoires.store.postgres_json import BIGINTS, TEXTS, json_array
from territoires.store.postgres_outbox import PostgresOutbox, PostgresOutboxDelivery
from territoires.store.postgres_quotas import PostgresEntityCount, PostgresQuotas
from territoires.store.postgres_subscriptions import PostgresSubscriptions
from territoires.store.postgres_temporal import PostgresTemporal
from territoires.store.postgres_text import PostgresText
from territoires.store.records import check_new, document, stored_context
from territoires.store.shapes import ShapeKey, shape_key, shape_record, type_infos
from territoires.store.staging import Staged
from territoires.store.temporal_common import to_micros
from territoires.store.value_index import EXPIRES_AT, Verdicts

log = logging.getLogger("territoires.store")

# Rows of a tenant's tables, emptied when the tenant is deleted (children first).
_TENANT_TABLES = ("history", "series_days", "series_days_frontier", "history_series", "history_kept",
                  "geometries", "attr_values", "entities", "shapes", "contexts", "frames",
                  "subscriptions", "subscription_versions", "outbox", "notification_status", "audit",
                  "text_tallies", "text_facets", "text_documents")
# Seconds a tenant seen alive is taken as alive by reads on a connection already naming it.
TENANT_RECHECK = 1.0
_NO_TENANT = "tenant {!r} does not exist; create it with /admin/v1/tenants"
# From this many entities, a write goes through COPY (measured: a single row costs 0.5 ms in
# plain statements and 3.5 ms through staging; 1,000 rows 60 ms and 36 ms).
BULK_ROWS = 64
# Transaction-private tables that COPY fills: row-level security forbids COPY into the
# protected tables themselves, so rows are copied here, then moved by one statement each.
_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS staged_entities "
    "(rid bigint, id text, shape bigint, doc jsonb, fresh boolean) ON COMMIT DELETE ROWS;"
    "CREATE TEMPORARY TABLE IF NOT EXISTS staged_geometries (rid bigint, attr text, geojson text) "
    "ON COMMIT DELETE ROWS;"
    "CREATE TEMPORARY TABLE IF NOT EXISTS staged_values (rid bigint, name text, value text, number float8) "
    "ON COMMIT DELETE ROWS"
)
# The rows of a few entities, each table's as one JSON array (``postgres_json``), documents
# embedded as they are.
_INSERT_FEW = ("INSERT INTO entities (rid, id, shape, doc) "
               "SELECT (j->>0)::bigint, j->>1, (j->>2)::bigint, j->3 FROM jsonb_array_elements(%s::jsonb) AS j")
# The replaced rows in a materialized CTE: one primary-key probe each (see postgres_json).
UPDATE_FEW = ("WITH j AS MATERIALIZED (SELECT (j->>0)::bigint AS rid, (j->>1)::bigint AS shape, j->2 AS doc "
              "FROM jsonb_array_elements(%s::jsonb) AS j) "
              "UPDATE entities e SET shape = j.shape, doc = j.doc FROM j WHERE e.rid = j.rid")
_GEOMETRIES_FEW = (
    f"INSERT INTO geometries (rid, attr, geom) SELECT rid, attr, {postgres_geo.stored_geometry('geojson')} "
    "FROM (SELECT (j->>0)::bigint AS rid, j->>1 AS attr, j->>2 AS geojson "
    "FROM jsonb_array_elements(%s::jsonb) AS j) AS x"
)


def _configure(conn: psycopg.Connection) -> None:
    set_json_loads(orjson.loads, conn)
    # PostGIS declares high function costs, which push small queries past the JIT threshold:
    # compiling them cost 30-670 ms where running them costs a few.
    conn.execute("SET jit = off")
    conn.execute(_STAGING)


class _Parts(NamedTuple):
    """What the rows of an entity hold that depends on the entity alone (no row number, no
    shape number): prepared outside the write lock when staged."""

    doc: str
    geometries: list[tuple[str, str]]
    values: list[tuple[str, str | None, float | None]]
    shape: ShapeKey


def _parts(entity: Entity) -> _Parts:
    return _Parts(document(entity), postgres_geo.geometry_rows(entity), postgres_values.value_parts(entity),
                  shape_key(entity))


class PostgresStore(postgres_devices.PostgresDeviceRegistry, PostgresAccess, PostgresQuotas, PostgresOutboxDelivery,
                    Store):
    waits_on_server = True

    def __init__(self, url: str, *, upgrade: bool = False, pool_size: int = 4, timeout: float = 5.0) -> None:
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=timeout,  # longest wait for a connection before answering 503
            # Give up a failing reconnection early: the next request starts a fresh attempt at
            # once, instead of waiting out an exponential backoff after the database is back.
            reconnect_timeout=2.0,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg_pool.PoolTimeout as error:
            self._pool.close()
            raise psycopg.OperationalError(f"cannot connect to PostgreSQL at {_safe(url)}") from error
        with self._pool.connection() as conn:
            if upgrade:
                postgres_schema.upgrade(conn)
            version, latest = postgres_schema.current_version(conn), postgres_schema.latest_version()
            slow = postgres_schema.functions_not_leakproof(conn) if version == latest else []
        if slow:
            log.warning("geo-queries will not use their index: a superuser should run "
                        "ALTER FUNCTION %s LEAKPROOF (see docs/operations.md)", ", ".join(slow))
        if version != latest:
            self._pool.close()
            raise RuntimeError(
                f"the database schema is at version {version}, this release needs {latest}: "
                "run `territoires db upgrade`"
            )
        # Shape ids by tenant, valid while the tenant is the one created at that instant.
        self._shapes: dict[tuple[str, Any], dict[ShapeKey, int]] = {}
        # Which q terms the value index narrows to, by tenant likewise.
        self._verdicts: dict[tuple[str, Any], Verdicts] = {}
        # Tenants seen alive (creation instant, when), and the tenant each pooled connection
        # names for reads (set_config at session level): see _name_tenant.
        self._alive: dict[str, tuple[Any, float]] = {}
        self._reads_named: weakref.WeakKeyDictionary[psycopg.Connection, str] = weakref.WeakKeyDictionary()
        # Group commit of the write sessions of this process, by tenant.
        self._writes: dict[str, CommitGroup[_WriteTransaction]] = {}
        self._writes_lock = threading.Lock()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            raise Unavailable(str(error).strip() or type(error).__name__) from error

    @contextmanager
    def _tenant_connection(self, tenant: str, *, write: bool) -> Iterator[tuple[psycopg.Connection, Any]]:
        """A connection that named ``tenant`` (to write: in a transaction holding the tenant's
        write lock, committed when the block ends without an exception), and the tenant's
        creation instant (None: no such tenant). A pooled connection that this first round
        trip finds broken (the database restarted) is replaced once, so a restart costs no
        request an error."""
        try:
            for attempt in (1, 2):
                with self._pool.connection() as conn:
                    try:
                        incarnation = self._name_tenant(conn, tenant, write=write)
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
                        continue  # the pool discards the broken connection
                    try:
                        yield conn, incarnation
                    except BaseException:
                        if write and not conn.broken:
                            conn.execute("ROLLBACK")
                        raise
                    finally:
                        postgres_subscriptions.forget_version(conn)
                    if write:
                        conn.execute("COMMIT")
                    return
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            self._reads_named.clear()  # the database may have restarted: check every connection again
            raise Unavailable(str(error).strip() or type(error).__name__) from error

    def _name_tenant(self, conn: psycopg.Connection, tenant: str, *, write: bool) -> Any:
        """``_enter``, skipped for a read on a connection that already names this tenant while
        the tenant was seen alive less than ``TENANT_RECHECK`` seconds ago: a retrieve is then
        one round trip. (A tenant deleted by another process reads as empty until then.)"""
        now = time.monotonic()
        seen = self._alive.get(tenant)
        if not write and seen is not None and now - seen[1] < TENANT_RECHECK and self._reads_named.get(conn) == tenant:
            return seen[0]
        incarnation = self._enter(conn, tenant, write=write)
        if incarnation is None:
            self._alive.pop(tenant, None)
        else:
            self._alive[tenant] = (incarnation, now)
        if not write:
            self._reads_named[conn] = tenant
        return incarnation

    # ---- tenants ------------------------------------------------------------------------
    def create_tenant(self, tenant: str) -> None:
        with self._connection() as conn:
            created = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) ON CONFLICT DO NOTHING RETURNING name", (tenant,)
            ).fetchone()
        if created is None:
            raise AlreadyExists(f"tenant {tenant!r} already exists")

    def delete_tenant(self, tenant: str) -> None:
        if tenant == DEFAULT_TENANT:
            raise BadRequestData("the default tenant cannot be deleted")
        with self._tenant_connection(tenant, write=True) as (conn, incarnation):
            if incarnation is None:
                raise ResourceNotFound(f"tenant {tenant!r} does not exist")
            for table in _TENANT_TABLES:
                conn.execute(f"DELETE FROM {table}")  # row-level security: this tenant's rows only
            conn.execute("DELETE FROM tenants WHERE name = %s", (tenant,))
        self._alive.pop(tenant, None)
        self._writes.pop(tenant, None)

    def tenants(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT name FROM tenants WHERE name <> '' ORDER BY name COLLATE \"C\"").fetchall()
        return [name for (name,) in rows]

    @staticmethod
    def _enter(conn: psycopg.Connection, tenant: str, *, write: bool) -> Any:
        """Name the tenant and return its creation instant (None if it does not exist). A
        write opens a transaction, names the tenant for it alone and takes the tenant's write
        lock; a read names it for the connection, each of its statements committing alone
        (a read needs no transaction: two round trips fewer)."""
        if write:
            with conn.pipeline():  # one round trip
                conn.execute("BEGIN")
                named = conn.execute(
                    "SELECT (SELECT created_at FROM tenants WHERE name = %s), "
                    "set_config('territoires.tenant', %s, true), pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (tenant, tenant, tenant),
                )
                postgres_subscriptions.version_at_begin(conn)
            return named.fetchone()[0]
        return conn.execute(
            "SELECT (SELECT created_at FROM tenants WHERE name = %s), set_config('territoires.tenant', %s, false)",
            (tenant, tenant),
        ).fetchone()[0]

    def stage(self, entities: Sequence[Entity]) -> Staged:
        return Staged.of(entities, _parts)

    @contextmanager
    def session(self, tenant: str, *, write: bool = False) -> Iterator[TenantSession]:
        if "\x00" in tenant:  # no tenant has such a name, and PostgreSQL text cannot hold it
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")
        if not write:
            with self._tenant_connection(tenant, write=False) as (conn, incarnation):
                if incarnation is None:
                    raise NonexistentTenant(_NO_TENANT.format(tenant))
                yield PostgresSession(conn, self._shapes.setdefault((tenant, incarnation), {}),
                                      self._verdicts.setdefault((tenant, incarnation), Verdicts()))
            return
        try:
            with self._writes_of(tenant).session() as transaction:
                shapes = self._shapes.setdefault((tenant, transaction.incarnation), {})
                session = PostgresSession(transaction.conn, shapes,
                                          self._verdicts.setdefault((tenant, transaction.incarnation), Verdicts()))
                yield session
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            self._reads_named.clear()  # the database may have restarted: check every connection again
            raise Unavailable(str(error).strip() or type(error).__name__) from error
        shapes.update(session.new_shapes)
        self._outbox_committed(tenant, session)

    def _writes_of(self, tenant: str) -> CommitGroup[_WriteTransaction]:
        group = self._writes.get(tenant)
        if group is None:
            with self._writes_lock:
                group = self._writes.setdefault(tenant, CommitGroup(lambda: _WriteTransaction(self, tenant)))
        return group

    def close(self) -> None:
        self._pool.close()


class _Abandoned(Exception):
    """Thrown into a write connection's block to roll its transaction back."""


class _WriteTransaction(Savepoints):
    """A write transaction on one tenant: a pooled connection that named the tenant and holds
    its write lock, from BEGIN to COMMIT (the group's sessions use it in turn)."""

    def __init__(self, store: PostgresStore, tenant: str) -> None:
        self._held = store._tenant_connection(tenant, write=True)
        self.conn, self.incarnation = self._held.__enter__()
        if self.incarnation is None:
            self.abandon()
            raise NonexistentTenant(_NO_TENANT.format(tenant))

    def intact(self) -> bool:
        return not self.conn.broken and self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def commit(self) -> None:
        self._held.__exit__(None, None, None)

    def abandon(self) -> None:
        self._held.__exit__(_Abandoned, _Abandoned(), None)


class PostgresSession(PostgresTemporal, postgres_devices.PostgresFrames, PostgresSubscriptions, PostgresOutbox,
                      PostgresAudit, PostgresEntityCount, PostgresText, TenantSession):
    def __init__(self, conn: psycopg.Connection, shapes: dict[ShapeKey, int], verdicts: Verdicts) -> None:
        self.conn = conn
        self.shapes = shapes
        self.verdicts = verdicts
        self.new_shapes: dict[ShapeKey, int] = {}
        self.staged = Staged()

    # ---- writing ------------------------------------------------------------------------
    def use_staged(self, staged: Sequence[object]) -> None:
        self.staged = Staged.combined(staged)

    def _shape_id(self, key: ShapeKey) -> int:
        known = self.shapes.get(key) or self.new_shapes.get(key)
        if known is not None:
            return known
        text, types, attrs = shape_record(key)
        row = self.conn.execute(
            "INSERT INTO shapes (key, types, attrs) VALUES (%s, %s, %s) ON CONFLICT (tenant, key) DO NOTHING "
            "RETURNING shape",
            (text, list(types), orjson.dumps(attrs).decode()),
        ).fetchone()
        if row is None:
            row = self.conn.execute("SELECT shape FROM shapes WHERE key = %s", (text,)).fetchone()
        self.new_shapes[key] = row[0]
        return row[0]

    def _lookup(self, ids: Sequence[str]) -> tuple[dict[str, int], Iterator[int]]:
        """The rid of the stored entities among ``ids``, and as many new rids as ids, in one
        round trip (the rids left unused are skipped: creation order needs them increasing,
        not dense)."""
        with self.conn.pipeline():
            stored = self.conn.execute(f"SELECT id, rid FROM entities WHERE id = ANY({TEXTS})", (json_array(ids),))
            reserved = self.conn.execute("SELECT nextval('entities_rid_seq') FROM generate_series(1, %s)",
                                         (len(ids),))
        return dict(stored.fetchall()), (rid for (rid,) in reserved.fetchall())

    def _write(self, entities: Sequence[Entity], existing: dict[str, int], reserved: Iterator[int]) -> None:
        """Write whole entities; those in ``existing`` keep their rid (creation order), new
        ones take the ``reserved`` rids in turn."""
        rows = _Rows()
        replaced = []
        for entity in entities:
            eid = entity["id"]
            rid = existing.get(eid)
            fresh_row = rid is None
            if fresh_row:
                rid = existing[eid] = next(reserved)
            else:
                replaced.append(rid)
            parts = self.staged.parts(entity) or _parts(entity)
            rows.entities.append((rid, eid, self._shape_id(parts.shape), parts.doc, fresh_row))
            rows.geometries.extend((rid, attr, text) for attr, text in parts.geometries)
            rows.values.extend((rid, name, value, number) for name, value, number in parts.values)
        if replaced:
            self._forget_rows(replaced)
        if len(rows.entities) >= BULK_ROWS:
            self._write_bulk(rows)
        else:
            self._write_few(rows)

    def _forget_rows(self, rids: list[int]) -> None:
        """Remove the index rows (geometries, values) of these entities."""
        listed = json_array(rids)
        with self.conn.pipeline():
            self.conn.execute(f"DELETE FROM geometries WHERE rid = ANY({BIGINTS})", (listed,))
            self.conn.execute(f"DELETE FROM attr_values WHERE rid = ANY({BIGINTS})", (listed,))

    def _write_few(self, rows: _Rows) -> None:
        fresh = [(rid, eid, shape, orjson.Fragment(doc)) for rid, eid, shape, doc, new in rows.entities if new]
        replaced = [(rid, shape, orjson.Fragment(doc)) for rid, _, shape, doc, new in rows.entities if not new]
        with self.conn.pipeline():  # the statements travel together: one round trip
            for sql, table in ((_INSERT_FEW, fresh), (UPDATE_FEW, replaced), (_GEOMETRIES_FEW, rows.geometries)):
                if table:
                    self.conn.execute(sql, (json_array(table),))
            if rows.values:
                self.conn.execute(postgres_values.INSERT_FEW, (postgres_values.rows_json(rows.values),))

    def _write_bulk(self, rows: _Rows) -> None:
        cur = self.conn.cursor()
        _copy(cur, "staged_entities (rid, id, shape, doc, fresh)", rows.entities)
        fresh = sum(1 for row in rows.entities if row[4])
        if fresh < len(rows.entities):  # (an update joins the staging with the tenant's entities)
            cur.execute("UPDATE entities e SET shape = s.shape, doc = s.doc FROM staged_entities s "
                        "WHERE e.rid = s.rid AND NOT s.fresh")
        if fresh:
            cur.execute("INSERT INTO entities (rid, id, shape, doc) SELECT rid, id, shape, doc FROM staged_entities "
                        "WHERE fresh")
        if rows.geometries:
            _copy(cur, "staged_geometries (rid, attr, geojson)", rows.geometries)
            cur.execute(
                f"INSERT INTO geometries (rid, attr, geom) SELECT rid, attr, {postgres_geo.stored_geometry('geojson')} "
                "FROM staged_geometries"
            )
        if rows.values:
            _copy(cur, "staged_values (rid, name, value, number)", rows.values)
            cur.execute("INSERT INTO attr_values (rid, name, value, number) SELECT * FROM staged_values")
        # Emptied at commit too; now as well, since a session may write again before it ends.
        cur.execute("DELETE FROM staged_entities; DELETE FROM staged_geometries; DELETE FROM staged_values")

    def insert(self, entities: Sequence[Entity]) -> None:
        ids = [e["id"] for e in entities]
        existing, reserved = self._lookup(ids)
        check_new(ids, lambda _: existing)
        self._write(entities, {}, reserved)

    def replace(self, entities: Sequence[Entity]) -> None:
        self._write(entities, *self._lookup([e["id"] for e in entities]))

    def _delete_rows(self, where: str, params: Sequence[Any]) -> list[str]:
        rows = self.conn.execute(f"DELETE FROM entities e WHERE {where} RETURNING e.id, e.rid", params).fetchall()
        if rows:
            self._forget_rows([rid for _, rid in rows])
        return [eid for eid, _ in rows]

    def delete(self, ids: Sequence[str]) -> set[str]:
        return set(self._delete_rows(f"e.id = ANY({TEXTS})", (json_array(ids),)))

    def delete_matching(self, query: EntityQuery) -> int:
        where, params = self._where(query)
        return len(self._delete_rows(" AND ".join(where) or "true", params))

    # ---- reading ------------------------------------------------------------------------
    def expired(self, until: str, limit: int) -> list[str]:
        return [eid for (eid,) in self.conn.execute(
            "SELECT e.id FROM entities e WHERE e.rid IN "
            "(SELECT rid FROM attr_values WHERE name = %s AND number <= %s) LIMIT %s",
            (EXPIRES_AT, float(to_micros(until)), limit))]

    def created_at(self, ids: Sequence[str]) -> dict[str, str]:
        return dict(self.conn.execute(
            f"SELECT id, doc->>'createdAt' FROM entities WHERE id = ANY({TEXTS})", (json_array(ids),)
        ).fetchall())

    def get(self, ids: Sequence[str]) -> dict[str, Entity]:
        return dict(self.conn.execute(f"SELECT id, doc FROM entities WHERE id = ANY({TEXTS})",
                                      (json_array(ids),)).fetchall())

    def _where(self, query: EntityQuery) -> tuple[list[str], list[Any]]:
        where, params = conditions(query, COMPILERS)
        if query.q is not None:
            for condition, args in postgres_values.prefilters(self.conn, query.q, self.verdicts):
                where.append(condition)
                params.extend(args)
        return where, params

    def query(self, query: EntityQuery) -> QueryPage:
        where, params = self._where(query)
        page_where, page_params = list(where), list(params)
        after = after_rid(query)
        if after is not None:
            page_where.append("e.rid > %s")
            page_params.append(after)
        order, order_params = postgres_filters.compile_order_by(query.order_by, query.collation, query.order_from)
        rows = []
        if query.limit > 0:
            rows = self.conn.execute(
                f"SELECT e.rid, e.doc FROM entities e WHERE {' AND '.join(page_where) or 'true'} "
                f"ORDER BY {order + ', ' if order else ''}e.rid LIMIT %s OFFSET %s",
                (*page_params, *order_params, query.limit, query.offset),
            ).fetchall()
        count = None
        if query.count:
            count = self.conn.execute(
                f"SELECT count(*) FROM entities e WHERE {' AND '.join(where) or 'true'}", params
            ).fetchone()[0]
        return page(rows, count, query)

    def types(self) -> list[TypeInfo]:
        return type_infos(self.conn.execute(
            "SELECT s.types, s.attrs, c.n FROM (SELECT shape, count(*) AS n FROM entities GROUP BY shape) AS c "
            "JOIN shapes s ON s.shape = c.shape"
        ))

    # ---- contexts -----------------------------------------------------------------------
    def put_context(self, context: StoredContext) -> None:
        stored = self.conn.execute(
            "INSERT INTO contexts (id, kind, body, created_at, last_usage, hits) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (context.id, context.kind, orjson.dumps(context.body).decode(), context.created_at,
             context.last_usage, context.number_of_hits),
        ).fetchone()
        if stored is None:
            raise AlreadyExists(f"a context with id {context.id} is already stored")

    _CONTEXT_COLUMNS = "SELECT id, kind, body, created_at, last_usage, hits FROM contexts"

    def get_context(self, context_id: str) -> StoredContext | None:
        if "\x00" in context_id:  # PostgreSQL text cannot hold it, so no stored id does
            return None
        row = self.conn.execute(f"{self._CONTEXT_COLUMNS} WHERE id = %s", (context_id,)).fetchone()
        return stored_context(row) if row else None

    def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        if kind is None:
            rows = self.conn.execute(f"{self._CONTEXT_COLUMNS} ORDER BY seq").fetchall()
        else:
            rows = self.conn.execute(f"{self._CONTEXT_COLUMNS} WHERE kind = %s ORDER BY seq", (kind,)).fetchall()
        return [stored_context(row) for row in rows]

    def delete_context(self, context_id: str) -> bool:
        if "\x00" in context_id:
            return False
        return self.conn.execute("DELETE FROM contexts WHERE id = %s", (context_id,)).rowcount > 0

    def touch_context(self, context_id: str, when: str, uses: int = 1) -> None:
        self.conn.execute("UPDATE contexts SET hits = hits + %s, last_usage = %s WHERE id = %s",
                          (uses, when, context_id))


@dataclass
class _Rows:
    """The rows a write sends to each table."""

    entities: list[tuple[Any, ...]] = field(default_factory=list)  # rid, id, shape, doc, fresh
    geometries: list[tuple[int, str, str]] = field(default_factory=list)  # rid, attr, GeoJSON text
    values: list[tuple[int, str, str | None, float | None]] = field(default_factory=list)


def _copy(cur: psycopg.Cursor, target: str, rows: Sequence[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _safe(url: str) -> str:
    """A connection URL without its password, for messages."""
    return psycopg.conninfo.make_conninfo(url, password="***")


COMPILERS = Compilers.of(postgres_filters, postgres_geo)
