"""The broker: services over the store, used by every adapter and domain module."""

from __future__ import annotations

from dataclasses import dataclass

from territoires.broker.audit import AuditRecorder, AuditService
from territoires.broker.changes import ChangeFeed
from territoires.broker.contexts import ContextService
from territoires.broker.devices import DeviceService
from territoires.broker.discovery import DiscoveryService
from territoires.broker.entities import EntityService
from territoires.broker.history import HistoryRecorder
from territoires.broker.identity import SourceIdentityService
from territoires.broker.matching import NotificationMatcher
from territoires.broker.subscriptions import SubscriptionService
from territoires.broker.temporal import TemporalService
from territoires.broker.tenants import TenantService
from territoires.broker.text_index import MATURITY, PROJECTS, TextIndexer, TextSearchService
from territoires.config import Settings
from territoires.store.port import Store


@dataclass
class Broker:
    settings: Settings
    store: Store
    feed: ChangeFeed
    entities: EntityService
    discovery: DiscoveryService
    contexts: ContextService
    tenants: TenantService
    subscriptions: SubscriptionService
    devices: DeviceService
    temporal: TemporalService
    matcher: NotificationMatcher
    audit: AuditService
    text_search: TextSearchService
    identity: SourceIdentityService

    def close(self) -> None:
        self.contexts.uses.flush()
        self.store.close()


def open_store(settings: Settings, *, upgrade: bool | None = None) -> Store:
    """The configured backend: PostgreSQL when ``database_url`` is set, else embedded SQLite.
    ``upgrade`` overrides ``database_upgrade`` (apply pending migrations first)."""
    if settings.database_url:
        from territoires.store.postgres import PostgresStore

        return PostgresStore(
            settings.database_url,
            upgrade=settings.database_upgrade if upgrade is None else upgrade,
            pool_size=settings.database_pool_size,
        )
    from territoires.store.sqlite import SqliteStore

    return SqliteStore(settings.data_dir)


def open_broker(settings: Settings) -> Broker:
    """Open the configured store and build the services over it."""
    store = open_store(settings)
    feed = ChangeFeed()
    feed.add(HistoryRecorder(keep_deleted=settings.keep_deleted_history))
    contexts = ContextService(store, settings)
    subscriptions = SubscriptionService(store, contexts, lambda session, ids: session.delivery_status(ids))
    matcher = NotificationMatcher(subscriptions)
    feed.add(matcher)
    feed.add(AuditRecorder())
    indexer = TextIndexer([PROJECTS, MATURITY])
    feed.add(indexer)
    return Broker(
        settings=settings,
        store=store,
        feed=feed,
        entities=EntityService(store, feed),
        discovery=DiscoveryService(store),
        contexts=contexts,
        tenants=TenantService(store),
        subscriptions=subscriptions,
        devices=DeviceService(store),
        temporal=TemporalService(store, feed, instance_limit=settings.temporal_page_size),
        matcher=matcher,
        audit=AuditService(store, settings.audit_retention_days),
        text_search=TextSearchService(store, indexer),
        identity=SourceIdentityService(store, settings),
    )
