"""OpenID Connect bearer tokens against a real local issuer (tests/oidc_issuer.py): what is
accepted, every refusal with its reason, and the issuer's keys fetched, kept and fetched again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from territoires.auth.errors import Unauthenticated
from territoires.auth.oidc import PRINCIPAL_SECONDS, OidcVerifier, ProviderUnavailable
from territoires.auth.principal import Action, Grant, Role
from territoires.config import Settings
from tests.oidc_issuer import CLIENT_ID, OidcIssuer, b64, compact, ec_key, rsa_key
from tests.servers import free_port

RENNES_EDITOR = (Grant(Role.EDITOR, "rennes"),)


class Clock:
    """The verifier's clock for its caches, moved by hand (tokens keep their real times)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Members:
    """Stands for MemberService.grants: the roles of people, by (issuer, subject, e-mail)."""

    def __init__(self, grants: tuple[Grant, ...] = RENNES_EDITOR) -> None:
        self.grants = grants
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, issuer: str, subject: str, email: str) -> tuple[Grant, ...]:
        self.asked.append((issuer, subject, email))
        return self.grants


def make_verifier(issuer: OidcIssuer | str, members: Callable[[str, str, str], tuple[Grant, ...]] | None = None,
                  clock: Callable[[], float] = time.time, **overrides: Any) -> OidcVerifier:
    url = issuer if isinstance(issuer, str) else issuer.url
    settings = Settings(oidc_issuer=url, oidc_client_id=CLIENT_ID, **overrides)
    return OidcVerifier(settings, members or Members(), now=clock)


def principal(verifier: OidcVerifier, token: str):
    return asyncio.run(verifier.principal(token))


def refusal(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        principal(verifier, token)
    assert refused.value.status == 401 and "WWW-Authenticate" in refused.value.headers
    return refused.value.detail


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = ".".join((b64(json.dumps(header).encode()), b64(json.dumps(payload).encode())))
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


# ---- accepted --------------------------------------------------------------------------------
def test_an_rs256_token_gives_the_person_and_their_grants(oidc_issuer: OidcIssuer) -> None:
    members = Members()
    token = oidc_issuer.token(jti="jeton-1")
    found = principal(make_verifier(oidc_issuer, members), token)
    assert found.kind == "oidc"
    assert found.subject == f"{oidc_issuer.url}#agent-0042"
    assert found.name == "agent@mairie-rennes.fr"
    assert found.credential_id == "jeton-1"
    assert found.grants == RENNES_EDITOR
    assert found.may(Action.WRITE, "rennes") and not found.may(Action.WRITE, "brest")
    assert members.asked == [(oidc_issuer.url, "agent-0042", "agent@mairie-rennes.fr")]


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS512"])
def test_other_asymmetric_algorithms_are_accepted(oidc_issuer: OidcIssuer, alg: str) -> None:
    assert principal(make_verifier(oidc_issuer), oidc_issuer.token(alg=alg)).subject.endswith("#agent-0042")


def test_the_name_falls_back_to_preferred_username_and_an_unverified_email_finds_no_roles(
        oidc_issuer: OidcIssuer) -> None:
    members = Members()
    verifier = make_verifier(oidc_issuer, members)
    keycloak = principal(verifier, oidc_issuer.token(email=None, email_verified=None, preferred_username="cmartin"))
    assert keycloak.name == "cmartin" and keycloak.credential_id is not None
    unverified = principal(verifier, oidc_issuer.token(email="chef@mairie-rennes.fr", email_verified=False))
    assert unverified.name == "chef@mairie-rennes.fr"
    assert members.asked == [(oidc_issuer.url, "agent-0042", ""), (oidc_issuer.url, "agent-0042", "")]


def test_a_token_without_jti_has_no_credential_id(oidc_issuer: OidcIssuer) -> None:
    assert principal(make_verifier(oidc_issuer), oidc_issuer.token(jti=None)).credential_id is None


def test_the_configured_audience_is_required_of_api_tokens(oidc_issuer: OidcIssuer) -> None:
    verifier = make_verifier(oidc_issuer, oidc_audience="api-territoires")
    assert principal(verifier, oidc_issuer.token(aud=["account", "api-territoires"])).name
    assert "not for this platform (api-territoires)" in refusal(verifier, oidc_issuer.token(aud=CLIENT_ID))


def test_times_are_checked_with_the_leeway(oidc_issuer: OidcIssuer) -> None:
    verifier = make_verifier(oidc_issuer, oidc_leeway=30)
    now = int(time.time())
    assert principal(verifier, oidc_issuer.token(exp=now - 10, iat=now - 300))
    assert principal(verifier, oidc_issuer.token(nbf=now + 10))
    assert "expired" in refusal(verifier, oidc_issuer.token(exp=now - 60, iat=now - 300))


def test_an_accepted_token_is_kept_verified_a_few_seconds(oidc_issuer: OidcIssuer) -> None:
    clock, members = Clock(), Members()
    verifier = make_verifier(oidc_issuer, members, clock)
    token = oidc_issuer.token()
    principal(verifier, token)
    principal(verifier, token)
    assert len(members.asked) == 1  # the second request cost no look-up of roles
    clock.now += PRINCIPAL_SECONDS + 1
    principal(verifier, token)
    assert len(members.asked) == 2


# ---- refused ---------------------------------------------------------------------------------
def _public_pem(issuer: OidcIssuer) -> bytes:
    return issuer.rsa.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def part_replaced(token: str, index: int, part: str) -> str:
    parts = token.split(".")
    parts[index] = part
    return ".".join(parts)


REFUSALS: dict[str, tuple[Callable[[OidcIssuer], str], str]] = {
    "wrong_signature": (lambda i: i.token(key=rsa_key("rsa-1")),
                        "signature does not verify with the issuer's key rsa-1"),
    "wrong_signature_ec": (lambda i: i.token(alg="ES256", key=ec_key("ec-1")), "signature does not verify"),
    "tampered_payload": (lambda i: part_replaced(i.token(), 1, b64(json.dumps(i.claims(sub="admin")).encode())),
                         "signature does not verify"),
    "wrong_issuer": (lambda i: i.token(iss="https://keycloak.example.org/realms/autre"),
                     "issued by 'https://keycloak.example.org/realms/autre', not by the configured issuer"),
    "wrong_audience": (lambda i: i.token(aud="une-autre-application"), "meant for 'une-autre-application'"),
    "expired": (lambda i: i.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "the token expired at"),
    "not_yet_valid": (lambda i: i.token(nbf=int(time.time()) + 3600), "not valid before"),
    "issued_in_the_future": (lambda i: i.token(iat=int(time.time()) + 3600), "(iat)"),
    "no_expiry": (lambda i: i.token(exp=None), "no exp claim"),
    "no_subject": (lambda i: i.token(sub=None), "no sub claim"),
    "alg_none": (lambda i: compact({"alg": "none", "kid": "rsa-1"}, i.claims()), "not signed (alg none)"),
    "alg_none_capitalised": (lambda i: compact({"alg": "None"}, i.claims()), "not signed (alg none)"),
    "hs256_with_the_public_key": (lambda i: hs256({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, i.claims(),
                                                  _public_pem(i)), "signed with 'HS256': only asymmetric"),
    "unknown_kid": (lambda i: i.token(key=rsa_key("inconnue")),
                    "names the key 'inconnue', which the issuer does not publish"),
    "no_kid_with_several_keys": (lambda i: i.token(kid=None), "names no key (kid)"),
    "key_of_the_wrong_type": (lambda i: i.token(alg="ES256", kid="rsa-1"), "key 'rsa-1' cannot verify ES256"),
    "critical_extension": (lambda i: i.token(headers={"crit": ["exp"], "exp": 1}), "critical extensions"),
    "two_parts": (lambda i: ".".join(i.token().split(".")[:2]), "three base64url parts separated by dots, not 2"),
    "four_parts": (lambda i: i.token() + ".e30", "not 4"),
    "header_not_base64": (lambda i: part_replaced(i.token(), 0, "!!!"), "header is not base64url"),
    "header_bad_length": (lambda i: part_replaced(i.token(), 0, "eyJhb"), "header is not base64url"),
    "header_not_json": (lambda i: part_replaced(i.token(), 0, b64(b"{alg: RS256")), "header is not JSON"),
    "header_not_an_object": (lambda i: part_replaced(i.token(), 0, b64(b"[1]")), "header is not a JSON object"),
    "payload_not_base64": (lambda i: part_replaced(i.token(), 1, "p@yl0ad"), "payload is not base64url"),
    "payload_not_json": (lambda i: part_replaced(i.token(), 1, b64(b"\xff\xfe")), "payload is not JSON"),
    "signature_not_base64": (lambda i: i.token() + "*", "signature is not base64url"),
    "too_long": (lambda i: "eyJ" + "A" * 20000, "longer than"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_tokens_say_why(oidc_issuer: OidcIssuer, case: str) -> None:
    make, reason = REFUSALS[case]
    assert reason in refusal(make_verifier(oidc_issuer), make(oidc_issuer))


@pytest.mark.parametrize("case", ["alg_none", "hs256_with_the_public_key", "two_parts", "header_not_json"])
def test_unsigned_symmetric_and_malformed_tokens_are_refused_before_any_key_is_fetched(
        oidc_issuer: OidcIssuer, case: str) -> None:
    make, _ = REFUSALS[case]
    refusal(make_verifier(oidc_issuer), make(oidc_issuer))
    assert oidc_issuer.jwks_fetches == 0


def test_without_a_configured_issuer_no_token_is_accepted(oidc_issuer: OidcIssuer) -> None:
    verifier = OidcVerifier(Settings(), Members())
    assert "no issuer configured" in refusal(verifier, oidc_issuer.token())


# ---- the issuer's keys ----------------------------------------------------------------------
def test_jwks_is_fetched_again_when_the_issuer_rotates_its_keys(oidc_issuer: OidcIssuer) -> None:
    clock = Clock()
    verifier = make_verifier(oidc_issuer, clock=clock, oidc_jwks_refresh=30)
    principal(verifier, oidc_issuer.token())
    assert oidc_issuer.jwks_fetches == 1
    old = oidc_issuer.token()
    oidc_issuer.rotate()
    rotated = oidc_issuer.token()
    assert "rsa-3" in refusal(verifier, rotated)  # fetched a moment ago: not again yet
    assert oidc_issuer.jwks_fetches == 1
    clock.now += 31
    assert principal(verifier, rotated).subject.endswith("#agent-0042")
    assert oidc_issuer.jwks_fetches == 2
    assert "'rsa-1', which the issuer does not publish" in refusal(verifier, old)  # withdrawn
    assert "'invente', which" in refusal(verifier, oidc_issuer.token(key=rsa_key("invente")))
    assert oidc_issuer.jwks_fetches == 2  # made-up key ids do not make us hammer the issuer


def test_jwks_is_fetched_again_after_its_time_to_live(oidc_issuer: OidcIssuer) -> None:
    clock = Clock()
    verifier = make_verifier(oidc_issuer, clock=clock, oidc_jwks_ttl=600)
    principal(verifier, oidc_issuer.token())
    clock.now += 300
    principal(verifier, oidc_issuer.token())
    assert oidc_issuer.jwks_fetches == 1
    clock.now += 301
    principal(verifier, oidc_issuer.token())
    assert oidc_issuer.jwks_fetches == 2


def test_concurrent_requests_share_one_fetch(oidc_issuer: OidcIssuer) -> None:
    clock = Clock()
    verifier = make_verifier(oidc_issuer, clock=clock)
    principal(verifier, oidc_issuer.token())
    oidc_issuer.rotate()
    clock.now += 60
    tokens = [oidc_issuer.token() for _ in range(20)]

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(verifier.principal(token) for token in tokens))

    assert len(asyncio.run(all_at_once())) == 20
    assert oidc_issuer.jwks_fetches == 2


def test_an_unreachable_issuer_is_a_503_not_a_refusal_of_the_token(oidc_issuer: OidcIssuer) -> None:
    verifier = make_verifier(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderUnavailable) as failed:
        principal(verifier, oidc_issuer.token())
    assert failed.value.status == 503 and "cannot be reached" in failed.value.detail


def test_keys_fetched_before_serve_while_the_issuer_is_down(oidc_issuer: OidcIssuer) -> None:
    clock = Clock()
    verifier = make_verifier(oidc_issuer, clock=clock, oidc_jwks_ttl=60)
    principal(verifier, oidc_issuer.token())
    oidc_issuer.stop()
    clock.now += 120
    assert principal(verifier, oidc_issuer.token()).name == "agent@mairie-rennes.fr"


def test_a_discovery_document_naming_another_issuer_is_refused(oidc_issuer: OidcIssuer) -> None:
    verifier = make_verifier(oidc_issuer.url + "/")  # not the issuer its documents name
    with pytest.raises(ProviderUnavailable) as failed:
        principal(verifier, oidc_issuer.token())
    assert "names another issuer" in failed.value.detail


def test_an_issuer_over_plain_http_elsewhere_than_loopback_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="https"):
        OidcVerifier(Settings(oidc_issuer="http://sso.example.org/realms/x", oidc_client_id="c"), Members())


# ---- fuzzing ---------------------------------------------------------------------------------
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=6)
_HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "ES256", "PS384", "none", "NONE", "HS256", "HS512", "EdDSA", ""]) | _JSON},
    optional={"kid": st.sampled_from(["rsa-1", "ec-1", "zzz"]) | _JSON, "crit": _JSON, "typ": _JSON})
_PAYLOADS = st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "email", "nonce"]),
                            _JSON)


def _structured(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    return compact(header, payload, signature)


_TOKENS = (st.text(max_size=300)
           | st.builds(_structured, _HEADERS, _PAYLOADS, st.binary(max_size=300))
           | st.lists(st.text(alphabet="ABCdef0123456789-_=+/.", max_size=80), max_size=5).map(".".join))


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=_TOKENS, mutation=st.integers(min_value=0))
def test_fuzzed_tokens_are_only_ever_refused_as_unauthenticated(oidc_issuer: OidcIssuer, token: str,
                                                                 mutation: int) -> None:
    verifier = make_verifier(oidc_issuer)
    valid = oidc_issuer.token()
    flipped = list(valid)
    flipped[mutation % len(valid)] = "A" if flipped[mutation % len(valid)] != "A" else "B"
    for candidate in (token, "".join(flipped)):
        try:
            principal(verifier, candidate)
        except Unauthenticated:
            pass


def test_an_id_token_must_carry_the_nonce_of_the_sign_in_attempt(oidc_issuer: OidcIssuer) -> None:
    verifier = make_verifier(oidc_issuer)
    token = oidc_issuer.token(nonce="n-0123")
    assert asyncio.run(verifier.claims(token, audience=CLIENT_ID, nonce="n-0123"))["sub"] == "agent-0042"
    for other in ("n-9999", ""):
        with pytest.raises(Unauthenticated, match="nonce"):
            asyncio.run(verifier.claims(token, audience=CLIENT_ID, nonce=other))
    with pytest.raises(Unauthenticated, match="nonce"):
        asyncio.run(verifier.claims(oidc_issuer.token(), audience=CLIENT_ID, nonce="n-0123"))


class _Framing(BaseHTTPRequestHandler):
    """An issuer answering the way some servers do: discovery delimited by the end of the
    connection (HTTP/1.0, no Content-Length), keys in chunks; ``jwks`` may be made too large."""

    issuer: OidcIssuer
    padding = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/openid-configuration"):
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            document = {**self.issuer.discovery(), "issuer": base, "jwks_uri": base + "/jwks"}
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + json.dumps(document).encode())
            return
        body = json.dumps({**self.issuer.jwks(), "padding": "x" * self.padding}).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for start in range(0, len(body), 1000):
            chunk = body[start:start + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


@pytest.mark.parametrize("padding", [0, 600 * 1024])
def test_documents_delimited_by_close_or_chunked_are_read_and_bounded(oidc_issuer: OidcIssuer, padding: int) -> None:
    handler = type("Framing", (_Framing,), {"issuer": oidc_issuer, "padding": padding})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        verifier = make_verifier(url)
        token = oidc_issuer.token(iss=url)
        if padding:
            with pytest.raises(ProviderUnavailable, match="larger than"):
                principal(verifier, token)
        else:
            assert principal(verifier, token).subject == f"{url}#agent-0042"
    finally:
        server.shutdown()
        server.server_close()
