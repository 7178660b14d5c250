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
    # Every request must present a credential allowed to do what it asks (deny by default).
    # Off (TERRITOIRES_AUTH=0) only for conformance suites and local trials: every caller is then
    # a platform operator, and the server says so in its log at start.
    auth: bool = True
    # Quotas every tenant has unless an operator sets its own (/admin/v1/tenants/{name}/quotas);
    # 0: unlimited. Over a quota, requests and uplinks are refused (429 with Retry-After).
    quota_entities: int = 0
    quota_requests_per_minute: int = 0
    quota_uplinks_per_minute: int = 0
    # Failed authentications one client address may make within the window (seconds); then
    # its attempts are refused (429) until the window has passed, and slowed down before that.
    auth_failure_limit: int = 10
    auth_failure_window: float = 60.0
    # OpenID Connect for people (ProConnect, Keycloak): the issuer exactly as its tokens name it
    # (its discovery document is {issuer}/.well-known/openid-configuration); empty: no OIDC.
    oidc_issuer: str = ""
    # What bearer tokens of the API must name in `aud`; empty: the client id.
    oidc_audience: str = ""
    # The platform's client at the issuer, for sign-in on the pages (code flow with PKCE).
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # Scopes asked at sign-in (ProConnect: openid email given_name usual_name siret).
    oidc_scopes: tuple[str, ...] = ("openid", "email")
    # Seconds of clock difference tolerated on a token's exp, nbf and iat.
    oidc_leeway: int = 30
    # Seconds the issuer's discovery document and keys are kept; a token naming a key not among
    # them fetches them again, at most once every oidc_jwks_refresh seconds.
    oidc_jwks_ttl: float = 3600.0
    oidc_jwks_refresh: float = 30.0
    # Where the issuer sends browsers back after sign-in, as registered there; empty:
    # /connexion/retour on the address the browser used.
    oidc_redirect_url: str = ""
    # Key signing the pages' session cookies and CSRF tokens; empty: a random key per start (the
    # log says so): sessions then end with the process and do not pass between workers.
    session_secret: str = ""
    # Seconds a browser session lasts after sign-in.
    session_max_age: int = 8 * 3600
    host: str = "127.0.0.1"
    port: int = 8080
    # The installation's name as a Context Source (/info/sourceIdentity); empty: the host's name.
    source_alias: str = ""
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
    # Most instances of one attribute a temporal answer holds; beyond, it is a page (206 with
    # Content-Range, clause 6.3.10) and the client asks for the next range.
    temporal_page_size: int = 1000
    # Deleting an entity deletes its history, unless this keeps it (temporal queries by id still answer).
    keep_deleted_history: bool = False
    # Seconds between two sweeps deleting the transient entities and attribute instances whose
    # expiresAt has come (clause 4.22: their deletion lags that instant by up to this); 0: none.
    expiry_sweep_interval: float = 1.0
    # Days the audit trail keeps a record (older ones are deleted hourly); 0 keeps them forever.
    audit_retention_days: int = 365
    # LoRaWAN ingestion: the MQTT broker of the network servers' integrations (mqtt:// or
    # mqtts://, user and password in the URL if needed); empty: no ingestion bridge.
    mqtt_url: str = ""
    # Topics the bridge subscribes to: ChirpStack v4 and The Things Stack v3 uplinks.
    mqtt_topics: tuple[str, ...] = ("application/+/device/+/event/up", "v3/+/devices/+/up")
    # The bridge's MQTT client id: its persistent session (what it has not acknowledged) is kept under it.
    mqtt_client_id: str = "territoires-bridge"
    # Bridge processes sharing the MQTT subscription (``ingest/consumers.py``): one per free core.
    ingest_consumers: int = 1
    # Most uplinks written in one transaction, and longest wait to fill a batch (seconds). A batch
    # is as large as the backlog: catching up, a large one rewrites each page of the history once
    # for several uplinks of a device (docs/operations.md).
    ingest_batch_size: int = 5000
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
