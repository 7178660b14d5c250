"""API keys as the enforcement point uses them: issued once, verified from memory, refused with
a reason, revoked, expired, their last use recorded in batches; on every backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from territoires.auth.errors import Unauthenticated
from territoires.auth.keys import KeyService, key_json, secret_hash
from territoires.auth.principal import Action, Grant, Role
from territoires.broker.actor import Actor, acting
from territoires.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.store.port import Store
from tests.contract.conftest import BACKENDS


class Clock:
    """A clock the test moves by hand (ISO 8601 UTC, as territoires.clock writes it)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

    def __call__(self) -> str:
        return self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def seconds(self) -> float:
        return self.at.timestamp()

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = BACKENDS[request.param](tmp_path)
    backend.create_tenant("rennes")
    backend.create_tenant("brest")
    yield backend
    backend.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(store: Store, clock: Clock) -> KeyService:
    return KeyService(store, clock, timer=clock.seconds)


def refusal(keys: KeyService, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        keys.principal(token)
    assert refused.value.status == 401 and "WWW-Authenticate" in refused.value.headers
    return refused.value.detail


def test_a_key_is_shown_once_stored_hashed_and_opens_requests_as_its_role(keys: KeyService, store: Store):
    with acting(Actor(kind="oidc", subject="https://idp#alice")):
        key, token = keys.create("rennes", "editor", "export SIG", "2027-01-01T01:00:00+01:00")
    assert re.fullmatch(r"trk_[a-z2-7]{12}_[a-z2-7]{52}", token) and token.split("_")[1] == key.id
    secret = token.split("_")[2]
    stored = store.get_key(key.id)
    assert stored == key and stored.secret_hash == secret_hash(secret) and secret not in repr(stored)
    assert key.expires_at == "2027-01-01T00:00:00.000000Z" and key.created_by == "oidc:https://idp#alice"
    assert "token" not in key_json(key) and "secretHash" not in key_json(key)
    principal = keys.principal(token)
    assert (principal.kind, principal.subject, principal.credential_id, principal.name) == (
        "key", key.id, key.id, "export SIG")
    assert principal.grants == (Grant(Role.EDITOR, "rennes"),)
    assert principal.may(Action.WRITE, "rennes") and not principal.may(Action.READ, "brest")
    assert not principal.may(Action.ADMIN, "rennes")


def test_keys_of_every_kind_of_role(keys: KeyService):
    _, operator = keys.create(None, "operator", created_by="cli:root")
    assert keys.principal(operator).may(Action.OPERATE, "") and keys.principal(operator).may(Action.READ, "brest")
    _, device = keys.create("", "device")
    assert keys.principal(device).may(Action.MEASURE, "") and not keys.principal(device).may(Action.READ, "")
    key, contributor = keys.create(None, "contributor", scope="35238")
    assert keys.principal(contributor).grants == (Grant(Role.CONTRIBUTOR, None, "35238"),)
    assert key_json(key)["scope"] == "35238" and "tenant" not in key_json(key)


@pytest.mark.parametrize(("tenant", "role", "extra", "error", "hint"), [
    ("rennes", "superuser", {}, BadRequestData, "role must be one of"),
    (None, "editor", {}, BadRequestData, "applies to a tenant"),
    ("rennes", "operator", {}, BadRequestData, "takes no tenant"),
    ("rennes", "moderator", {}, BadRequestData, "national role"),
    ("rennes", "reader", {"scope": "35238"}, BadRequestData, "no scope"),
    (None, "operator", {"scope": "35238"}, BadRequestData, "no scope"),
    ("nowhere", "reader", {}, NonexistentTenant, "nowhere"),
    ("rennes", "reader", {"expires_at": "2020-01-01T00:00:00Z"}, BadRequestData, "already past"),
    ("rennes", "reader", {"expires_at": "2027-01-01T00:00:00"}, BadRequestData, "offset"),
    ("rennes", "reader", {"expires_at": "demain"}, BadRequestData, "ISO 8601"),
    ("rennes", "reader", {"name": "x" * 201}, BadRequestData, "200 characters"),
])
def test_bad_keys_are_refused_with_a_reason(keys: KeyService, store: Store, tenant, role, extra, error, hint):
    with pytest.raises(error) as refused:
        keys.create(tenant, role, **extra)
    assert hint in refused.value.detail
    assert store.list_keys() == ([], 0)


def test_refused_tokens_say_why(keys: KeyService, store: Store, clock: Clock):
    key, token = keys.create("rennes", "reader", expires_at="2026-11-28T11:00:00Z")
    assert "malformed" in refusal(keys, "trk_nope")
    assert "malformed" in refusal(keys, token + "x")
    assert f"unknown API key {'a' * 12}" in refusal(keys, f"trk_{'a' * 12}_{token.split('_')[2]}")
    other_secret = "b" * 52
    assert "wrong secret" in refusal(keys, f"trk_{key.id}_{other_secret}")
    clock.advance(3600)
    assert "expired at 2026-11-28T11:00:00.000000Z" in refusal(keys, token)
    _, revoked = keys.create("rennes", "reader")
    keys.revoke(revoked.split("_")[1], within="rennes")
    assert "was revoked at" in refusal(keys, revoked)
    # A revoked key's state is told only to whoever holds its secret.
    assert "wrong secret" in refusal(keys, f"trk_{revoked.split('_')[1]}_{other_secret}")


def test_a_key_revoked_by_another_process_stops_within_the_cache_delay(keys: KeyService, store: Store, clock: Clock):
    key, token = keys.create("rennes", "reader")
    keys.principal(token)  # verified once: kept in memory
    store.revoke_key(key.id, clock())  # as another process would
    clock.advance(4)
    assert keys.principal(token).subject == key.id  # still in memory
    clock.advance(1)
    assert "revoked" in refusal(keys, token)
    assert store.get_key(key.id).revoked_at is not None


def test_revoking_keeps_the_record_and_is_limited_to_the_tenant_named(keys: KeyService, store: Store, clock: Clock):
    key, token = keys.create("rennes", "reader")
    with pytest.raises(ResourceNotFound):
        keys.revoke(key.id, within="brest")
    with pytest.raises(ResourceNotFound):
        keys.get(key.id, within="")
    assert keys.principal(token)
    revoked = keys.revoke(key.id, within="rennes")
    assert revoked.revoked_at == clock() and key_json(revoked)["revokedAt"] == clock()
    clock.advance(10)
    assert keys.revoke(key.id).revoked_at == revoked.revoked_at  # again: no change
    assert keys.list("rennes") == ([revoked], 1)
    with pytest.raises(ResourceNotFound):
        keys.revoke("abcdefghijkl")


def test_last_use_is_recorded_at_most_once_a_minute_per_key_in_batches(keys: KeyService, store: Store, clock: Clock):
    a, token_a = keys.create("rennes", "reader")
    b, token_b = keys.create("brest", "reader")
    first = clock()
    keys.principal(token_a)  # nothing written for 10 s before: written at once
    assert store.get_key(a.id).last_used_at == first
    clock.advance(1)
    keys.principal(token_b)  # noted, written with the next batch
    keys.principal(token_a)  # within a minute of its last noted use: not noted
    assert store.get_key(b.id).last_used_at is None
    clock.advance(10)
    keys.principal(token_a)  # still within its minute: not noted, so no batch is written either
    assert store.get_key(b.id).last_used_at is None
    clock.advance(50)
    keys.principal(token_a)  # a minute after: noted, and the batch of both is written
    assert store.get_key(a.id).last_used_at == clock()
    assert store.get_key(b.id).last_used_at == "2026-11-28T10:00:01.000000Z"
    clock.advance(61)
    keys.principal(token_b)  # noted; the last batch was 61 s ago: written at once
    assert store.get_key(b.id).last_used_at == clock()
    clock.advance(61)
    keys.principal(token_a)
    clock.advance(1)
    keys.principal(token_b)  # waits for the next batch…
    assert store.get_key(b.id).last_used_at != clock()
    keys.flush()  # …or for the flush at shutdown
    assert store.get_key(b.id).last_used_at == clock()
