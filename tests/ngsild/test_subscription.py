"""The Subscription resource as pure code: parsing (clause 5.2.12 and the 400 cases of 5.8.1),
PATCH semantics (5.8.2), status, rendering, and the stored document."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ngsild import query
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import BadRequestData, NgsiLdError
from territoires.ngsild.subscription import (
    DEFAULT_TRIGGERS,
    Subscription,
    instant,
    merge_subscription,
    needs_implicit_context,
    parse_subscription,
    render_subscription,
    type_text,
)

NOW = "2026-11-28T10:00:00.000000Z"
LATER = "2026-11-28T11:00:00.000000Z"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
SDM = "https://smartdatamodels.org/dataModel.Streetlight/"
CORE = compile_context(None, lambda url: {"@context": {}})
SDM_CTX = compile_context({"Streetlight": SDM + "Streetlight", "powerState": SDM + "powerState"},
                          lambda url: {"@context": {}})


def body(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:s1",
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9999/notify"}},
    }
    base.update(members)
    return {k: v for k, v in base.items() if v is not ...}


def parse(raw: Any, ctx=SDM_CTX) -> Subscription:
    return parse_subscription(raw, ctx, now=NOW, generated_id="urn:ngsi-ld:Subscription:generated")


def refused(raw: Any, fragment: str) -> str:
    with pytest.raises(BadRequestData) as caught:
        parse(raw)
    assert fragment in caught.value.detail, caught.value.detail
    return caught.value.detail


# ---- parsing --------------------------------------------------------------------------------


def test_a_minimal_subscription_takes_the_defaults_of_the_clause():
    sub = parse(body())
    assert sub.id == "urn:ngsi-ld:Subscription:s1"
    assert sub.entities[0].type == query.TypeName(SDM + "Streetlight")
    assert sub.notification_trigger == DEFAULT_TRIGGERS == ("attributeCreated", "attributeUpdated")
    assert sub.is_active and sub.notification.format == "normalized" and not sub.notification.sys_attrs
    assert sub.notification.endpoint.accept == "application/json"
    assert sub.created_at == sub.modified_at == NOW
    assert sub.status(NOW) == "active"


def test_every_member_is_parsed_into_expanded_names_and_query_trees():
    sub = parse(body(
        subscriptionName="Éclairage Nord", description="lampes éteintes",
        entities=[{"type": "Streetlight", "idPattern": "^urn:ngsi-ld:Streetlight:00"},
                  {"type": "Streetlight;Lamp", "id": "urn:ngsi-ld:Streetlight:1"}],
        watchedAttributes=["powerState"], notificationTrigger=["entityCreated", "attributeUpdated"],
        q='powerState=="off"', geoQ={"georel": "near;maxDistance==2000", "geometry": "Point",
                                      "coordinates": [-1.68, 48.11]},
        scopeQ="/Rennes/#", csf="provider==acme", isActive=False, expiresAt="2030-01-01T00:00:00Z",
        throttling=5, lang="fr,en", datasetId=["urn:ngsi-ld:Dataset:a"],
        notification={"attributes": ["powerState"], "format": "concise", "sysAttrs": True, "showChanges": True,
                      "endpoint": {"uri": "mqtt://127.0.0.1:1883/territoires/eclairage", "accept": "application/ld+json",
                                   "timeout": 1500, "cooldown": 10000,
                                   "receiverInfo": [{"key": "X-Commune", "value": "35238"}],
                                   "notifierInfo": [{"key": "MQTT-QoS", "value": "1"},
                                                    {"key": "MQTT-Version", "value": "mqtt5.0"}]}},
    ))
    assert sub.watched_attributes == (SDM + "powerState",)
    assert sub.entities[1].type == query.And((query.TypeName(SDM + "Streetlight"), query.TypeName(VOCAB + "Lamp")))
    assert sub.q == query.parse_q('powerState=="off"', SDM_CTX.expand) and sub.q_text == 'powerState=="off"'
    assert sub.geo_q.max_distance == 2000 and sub.geo_q.geometry["coordinates"] == [-1.68, 48.11]
    assert sub.scope_q == query.Scope(("Rennes",), True)
    assert sub.status(NOW) == "paused"
    params = sub.notification
    assert params.attributes == (SDM + "powerState",) and params.format == "concise" and params.show_changes
    assert params.endpoint.scheme == "mqtt" and params.endpoint.notifier_setting("MQTT-QoS") == "1"
    assert params.endpoint.receiver_info == (("X-Commune", "35238"),)


def test_simplified_is_another_name_of_key_values():
    assert parse(body(notification={"format": "simplified", "endpoint": {"uri": "http://h/n"}})).notification.format \
        == "keyValues"


def test_a_subscription_without_id_gets_the_generated_one():
    assert parse(body(id=...)).id == "urn:ngsi-ld:Subscription:generated"


def test_read_only_and_unknown_top_level_members_are_ignored():
    sub = parse(body(status="expired", createdAt="2000-01-01T00:00:00Z", __context="http://h/x.jsonld",
                     notification={"endpoint": {"uri": "http://h/n"}, "timesSent": 42, "status": "failed"}))
    assert sub.status(NOW) == "active" and sub.created_at == NOW
    rendered = render_subscription(sub, SDM_CTX, now=NOW)
    assert "__context" not in orjson.dumps(rendered).decode() and "timesSent" not in rendered["notification"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({}, "type"),                                                        # 028_02_02 EmptyJson
        ([], "JSON object"),
        (body(type="Subscriptions"), "type"),
        (body(id="invalidId"), "not an absolute URI"),                       # 028_03_01
        (body(id=""), "URI string"),                                         # 028_03_02
        (body(notification=...), "notification"),
        (body(notification={"format": "keyValues"}), "endpoint is mandatory"),
        (body(notification={"endpoint": {"accept": "application/json"}}), "uri is mandatory"),
        (body(entities=...), "entities, watchedAttributes or both"),
        (body(entities=[]), "non-empty array"),
        (body(entities=[{"id": "urn:a:b"}]), "needs a type"),
        (body(entities=[{"type": "Streetlight", "idPattern": "("}]), "regular expression"),
        (body(entities=[{"type": "Streetlight", "id": "not a uri"}]), "absolute URI"),
        (body(entities=[{"type": "Streetlight", "id": []}]), "empty array"),  # Table 5.2.33-1
        (body(entities=[{"type": "Streetlight", "id": ["urn:a:b", 5]}]), "id[1] 5 is not an absolute URI"),
        (body(entities=[{"type": "Streetlight", "ids": "urn:a:b"}]), "unknown member(s) ids"),
        (body(watchedAttributes=[]), "non-empty array"),
        (body(watchedAttributes=["bad name"]), "not a valid name"),
        (body(timeInterval=10, watchedAttributes=["powerState"]), "cannot be used together"),
        (body(timeInterval=10, throttling=5), "throttling"),                 # 028_05_01
        (body(throttling=-1), "greater than 0"),                              # 028_05_02
        (body(timeInterval=0), "greater than 0"),
        (body(throttling=True), "number of seconds"),
        (body(expiresAt="2000-01-01T00:00:00Z"), "not in the future"),        # 5.8.1.4
        (body(expiresAt="demain"), "not a UTC DateTime"),
        (body(isActive="yes"), "true or false"),
        (body(notificationTrigger=["entityChanged"]), "not one of"),
        (body(notificationTrigger=[]), "non-empty array"),
        (body(q="powerState=="), "q:"),
        (body(scopeQ="Rennes"), "scopeQ"),
        (body(csf="(("), "csf:"),
        (body(geoQ={"georel": "near", "geometry": "Point", "coordinates": [1, 2]}), "near"),
        (body(lang="fr_FR"), "language tag"),
        (body(jsonldContext="unknownContext"), "jsonldContext"),              # 028_07_01
        (body(subscriptionName=""), "non-empty string"),
        (body(notification={"format": "xml", "endpoint": {"uri": "http://h/n"}}), "format"),
        (body(notification={"format": "keyValues", "showChanges": True, "endpoint": {"uri": "http://h/n"}}),
         "showChanges"),                                                      # 028_09_01
        (body(notification={"attributes": [], "endpoint": {"uri": "http://h/n"}}), "non-empty array"),
        (body(notification={"pick": ["id"], "omit": ["id"], "endpoint": {"uri": "http://h/n"}}), "both name id"),
        (body(notification={"pick": ["powerState"], "attributes": ["powerState"], "endpoint": {"uri": "http://h/n"}}),
         "cannot be used together"),                                          # 028_08_02
        (body(notification={"sysAttrs": "true", "endpoint": {"uri": "http://h/n"}}), "true or false"),
        (body(notification={"join": "deep", "endpoint": {"uri": "http://h/n"}}), "join"),
        (body(notification={"endpoint": {"uri": "http://h/n"}, "attrs": ["a"]}), "unknown member(s) attrs"),
        (body(notification={"endpoint": {"uri": "notify me"}}), "absolute URI"),
        (body(notification={"endpoint": {"uri": "ftp://h/n"}}), "scheme 'ftp'"),
        (body(notification={"endpoint": {"uri": "http:///n"}}), "no host"),
        (body(notification={"endpoint": {"uri": "mqtt://127.0.0.1:1883"}}), "no MQTT topic"),
        (body(notification={"endpoint": {"uri": "http://h:99999/n"}}), "invalid port"),
        (body(notification={"endpoint": {"uri": "http://h/n", "accept": "text/plain"}}), "accept"),
        (body(notification={"endpoint": {"uri": "http://h/n", "timeout": -5}}), "greater than 0"),
        (body(notification={"endpoint": {"uri": "http://h/n", "receiverInfo": [{"key": "K", "value": 42}]}}),
         "must be a string"),                                                 # 028_10_02
        (body(notification={"endpoint": {"uri": "http://h/n", "notifierInfo": [{"key": "K", "value": {"a": 1}}]}}),
         "must be a string"),                                                 # 028_10_03
        (body(notification={"endpoint": {"uri": "http://h/n", "receiverInfo": [{"key": "K"}]}}), "has no value"),
        (body(notification={"endpoint": {"uri": "http://h/n", "receiverInfo": [{"key": 5, "value": "v"}]}}),
         "must be a string"),                                                 # 028_10_05
        (body(notification={"endpoint": {"uri": "mqtt://h/t", "notifierInfo": [{"key": "MQTT-QoS", "value": "3"}]}}),
         "MQTT-QoS"),
        (body(notification={"endpoint": {"uri": "mqtt://h/t", "notifierInfo": [{"key": "MQTT-Version",
                                                                              "value": "mqtt4"}]}}), "MQTT-Version"),
        (body(description=None), "cannot be null"),
    ],
)
def test_bad_subscriptions_are_bad_request_data_saying_what_is_wrong(raw, fragment):
    refused(raw, fragment)


def test_a_watched_attributes_subscription_needs_no_entities():
    sub = parse(body(entities=..., watchedAttributes=["powerState", "powerState"]))
    assert sub.entities == () and sub.watched_attributes == (SDM + "powerState",)


# ---- status ---------------------------------------------------------------------------------


def test_status_is_expired_after_expires_at_whatever_is_active():
    sub = parse(body(expiresAt="2026-11-28T10:30:00Z", isActive=False))
    assert sub.status(NOW) == "paused"
    assert sub.status("2026-11-28T10:30:00.000000Z") == "expired"
    assert sub.status(LATER) == "expired"
    assert sub.expires_key == "2026-11-28T10:30:00.000000Z"


def test_instants_compare_as_text_whatever_fraction_was_written():
    assert instant("2030-01-01T00:00:00Z") < instant("2030-01-01T00:00:00.5Z") < instant("2030-01-01T00:00:01Z")


# ---- PATCH (clause 5.8.2) --------------------------------------------------------------------


def merged(current: Subscription, fragment: dict[str, Any], ctx=SDM_CTX, now: str = LATER) -> Subscription:
    return merge_subscription(current, fragment, ctx, now=now)


def test_029_06_a_fragment_replaces_the_members_it_gives_and_stamps_modified_at():
    current = parse(body(notification={"format": "keyValues", "endpoint": {"uri": "http://h/n"}}))
    changed = merged(current, {"type": "Subscription", "notification": {"endpoint": {"uri": "http://h2/n"}},
                               "watchedAttributes": ["powerState"]})
    assert changed.notification.endpoint.uri == "http://h2/n"
    assert changed.notification.format == "normalized"  # notification is replaced whole
    assert changed.watched_attributes == (SDM + "powerState",) and changed.entities == current.entities
    assert changed.created_at == NOW and changed.modified_at == LATER


def test_029_03_a_notification_without_endpoint_is_refused():
    with pytest.raises(BadRequestData, match="endpoint"):
        merged(parse(body()), {"notification": {"format": "keyValues"}})


def test_029_04_removing_a_mandatory_member_is_refused():
    with pytest.raises(BadRequestData, match="endpoint"):
        merged(parse(body()), {"notification": {"format": "keyValues", "endpoint": None}})
    with pytest.raises(BadRequestData, match="mandatory"):
        merged(parse(body()), {"notification": None})


def test_null_removes_an_optional_member_and_its_default_comes_back():
    current = parse(body(q='powerState=="off"', isActive=False, notificationTrigger=["entityDeleted"]))
    changed = merged(current, {"q": None, "isActive": "urn:ngsi-ld:null", "notificationTrigger": None})
    assert changed.q is None and changed.q_text is None and changed.is_active
    assert changed.notification_trigger == DEFAULT_TRIGGERS
    assert "q" not in render_subscription(changed, SDM_CTX, now=LATER)


def test_removing_the_entities_of_a_subscription_that_watches_nothing_else_is_refused():
    with pytest.raises(BadRequestData, match="entities, watchedAttributes"):
        merged(parse(body()), {"entities": None})


@pytest.mark.parametrize(
    ("before", "fragment", "now", "status"),
    [
        ({"isActive": False}, {"isActive": True}, LATER, "active"),                         # 029_07
        ({"isActive": False}, {"isActive": True, "expiresAt": "2030-08-01T22:07:00Z"}, LATER, "active"),  # 029_08
        ({}, {"isActive": False}, LATER, "paused"),                                         # 029_09
        ({"expiresAt": "2026-11-28T10:30:00Z"}, {"expiresAt": "2030-01-01T00:00:00Z"}, LATER, "active"),  # 029_10
        ({"expiresAt": "2026-11-28T10:30:00Z"}, {"isActive": True}, LATER, "expired"),
    ],
)
def test_status_after_an_update_follows_clause_5_8_2(before, fragment, now, status):
    assert merged(parse(body(**before)), fragment, now=now).status(now) == status


def test_029_11_an_expires_at_in_the_past_is_refused():
    with pytest.raises(BadRequestData, match="not in the future"):
        merged(parse(body()), {"expiresAt": "2020-08-01T22:07:00Z"})


@pytest.mark.parametrize(
    ("fragment", "fragment_detail"),
    [({"id": "urn:ngsi-ld:Subscription:other"}, "not the subscription's id"), ({"type": "Entity"}, "type"),
     ({"type": "Subscription"}, "changes no member"), ([], "JSON object")],
)
def test_fragments_that_cannot_apply_are_refused(fragment, fragment_detail):
    with pytest.raises(BadRequestData, match=fragment_detail):
        merged(parse(body()), fragment)


def test_029_05_names_of_a_fragment_are_expanded_with_the_fragment_context():
    changed = merged(parse(body()), {"watchedAttributes": ["powerState"]}, ctx=CORE)
    assert changed.watched_attributes == (VOCAB + "powerState",)


# ---- contexts of notifications ------------------------------------------------------------------


def test_the_context_of_notifications_comes_from_the_request_or_jsonld_context():
    one_url = compile_context(["https://example.org/ctx.jsonld"], lambda url: {"@context": {}})
    sub = parse(body(), ctx=one_url)
    assert sub.jsonld_context == "https://example.org/ctx.jsonld" and not needs_implicit_context(sub)
    inline = parse(body())
    assert inline.jsonld_context is None and inline.context == SDM_CTX.source and needs_implicit_context(inline)
    given = parse(body(jsonldContext="https://example.org/notify.jsonld"))
    assert given.jsonld_context == given.context == "https://example.org/notify.jsonld"
    core_only = parse(body(), ctx=CORE)
    assert core_only.context is None and not needs_implicit_context(core_only)
    # Shown when the client gave it or the broker made it; not when it is the @context itself.
    assert "jsonldContext" not in render_subscription(core_only, CORE, now=NOW)
    assert "jsonldContext" not in render_subscription(sub, CORE, now=NOW)
    assert render_subscription(given, CORE, now=NOW)["jsonldContext"] == "https://example.org/notify.jsonld"
    made = replace(inline, jsonld_context="http://broker/ngsi-ld/v1/jsonldContexts/abc")
    assert render_subscription(made, CORE, now=NOW)["jsonldContext"] == "http://broker/ngsi-ld/v1/jsonldContexts/abc"


# ---- rendering ----------------------------------------------------------------------------------


def test_028_01_a_subscription_is_shown_as_given_with_its_status():
    raw = body(timeInterval=5, notification={"format": "keyValues", "endpoint": {"uri": "http://localhost:1111/notify",
                                                                                 "accept": "application/json"}})
    one_url = compile_context(["https://example.org/ctx.jsonld"], lambda url: {"@context": SDM_CTX.source})
    rendered = render_subscription(parse(raw, one_url), one_url, now=NOW)
    assert rendered == {**raw, "status": "active", "notificationTrigger": list(DEFAULT_TRIGGERS)}


def test_names_are_compacted_under_the_reading_context():
    sub = parse(body(watchedAttributes=["powerState"], entities=[{"type": "Streetlight|Lamp;Post"}],
                     notification={"attributes": ["powerState"], "endpoint": {"uri": "http://h/n"}}))
    mine = render_subscription(sub, SDM_CTX, now=NOW)
    assert mine["watchedAttributes"] == ["powerState"] and mine["entities"] == [{"type": "Streetlight|Lamp;Post"}]
    core = render_subscription(sub, CORE, now=NOW)
    assert core["watchedAttributes"] == [SDM + "powerState"]
    assert core["notification"]["attributes"] == [SDM + "powerState"]
    assert core["entities"] == [{"type": f"{SDM}Streetlight|Lamp;Post"}]
    picked = parse(body(notification={"pick": ["id", "powerState"], "endpoint": {"uri": "http://h/n"}}))
    assert render_subscription(picked, CORE, now=NOW)["notification"]["pick"] == ["id", SDM + "powerState"]


def test_type_expressions_are_written_back_with_the_parentheses_they_need():
    expr = query.parse_type_expr("(A|B);C|D", CORE.expand)
    assert query.parse_type_expr(type_text(expr, CORE.compact), CORE.expand) == expr


def test_delivery_members_and_system_attributes_are_shown_when_asked():
    sub = parse(body())
    rendered = render_subscription(sub, SDM_CTX, now=NOW, sys_attrs=True,
                                   delivery={"timesSent": 3, "lastSuccess": NOW, "status": "ok", "secret": 1})
    assert rendered["notification"]["timesSent"] == 3 and rendered["notification"]["status"] == "ok"
    assert "secret" not in rendered["notification"]
    assert rendered["createdAt"] == rendered["modifiedAt"] == NOW
    assert "createdAt" not in render_subscription(sub, SDM_CTX, now=NOW)


def test_a_geo_query_is_shown_as_a_geo_query_object():
    sub = parse(body(geoQ={"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": "[-1.68,48.11]",
                           "geoproperty": "powerState"}))
    shown = render_subscription(sub, SDM_CTX, now=NOW)["geoQ"]
    assert shown == {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [-1.68, 48.11],
                     "geoproperty": "powerState"}


# ---- the stored document ------------------------------------------------------------------------


def full_body() -> dict[str, Any]:
    return body(
        entities=[{"type": "(Streetlight|Lamp);Post", "idPattern": "^urn:"}, {"type": "Streetlight", "id": "urn:a:b"},
                  {"type": "Lamp", "id": ["urn:a:c", "urn:a:d"]}],
        watchedAttributes=["powerState"],
        q='powerState=="off"|(dimming>5;dimming<=10.5);name~="^R";refCabinet{Cabinet:status}=="fault"',
        geoQ={"georel": "within", "geometry": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        scopeQ="/Rennes/+/#,/Brest", expiresAt="2031-01-01T00:00:00Z", throttling=2.5, lang="fr",
        datasetId="urn:ngsi-ld:Dataset:a",
        notification={"format": "concise", "pick": ["id", "powerState"],
                      "endpoint": {"uri": "https://h/n", "receiverInfo": [{"key": "A", "value": "b"}]}},
    )


def test_a_subscription_reads_back_equal_from_its_document():
    sub = parse(full_body())
    text = orjson.dumps(sub.to_document())
    assert Subscription.from_document(orjson.loads(text)) == sub


def test_an_inline_context_is_kept_as_json_in_the_document():
    sub = parse(body())
    assert Subscription.from_document(orjson.loads(orjson.dumps(sub.to_document()))).context == SDM_CTX.source


def test_a_document_that_is_no_subscription_is_refused():
    with pytest.raises(ValueError):
        Subscription.from_document({"@": "os.system", "command": "true"})


names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,8}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(
    name=st.one_of(st.just(...), texts), attrs=st.lists(names, min_size=1, max_size=4),
    throttling=st.one_of(st.just(...), st.floats(min_value=0.001, max_value=1e6), st.integers(1, 10**6)),
    triggers=st.lists(st.sampled_from(["entityCreated", "attributeUpdated", "entityDeleted"]), min_size=1),
    values=st.lists(st.one_of(st.integers(-10**6, 10**6), texts), min_size=1, max_size=3),
    active=st.booleans(),
)
def test_documents_round_trip(name, attrs, throttling, triggers, values, active):
    q = ";".join(f"{a}=={orjson.dumps(v).decode()}" for a, v in zip(attrs, values))
    raw = body(subscriptionName=name, watchedAttributes=attrs, throttling=throttling, notificationTrigger=triggers,
               q=q, isActive=active)
    sub = parse(copy.deepcopy(raw))
    assert Subscription.from_document(orjson.loads(orjson.dumps(sub.to_document()))) == sub


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), texts),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
                    max_leaves=12))
def test_any_json_body_is_either_a_subscription_or_an_ngsi_ld_error(raw):
    for candidate in (raw, body(description=raw), body(notification=raw), body(entities=raw), body(geoQ=raw)):
        try:
            parse(candidate)
        except NgsiLdError:
            pass
