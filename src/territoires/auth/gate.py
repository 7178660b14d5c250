"""The one enforcement point: every route's endpoint is wrapped here, deny by default.

For each request the gate finds who calls (an API key or an OpenID Connect token in
``Authorization: Bearer …``, else the pages' session cookie, else anonymous), the tenant the
route's rule names, and whether the principal's grants allow the rule's action on it. Then it
charges the tenant's quotas, records who acts for the broker's audit trail, and calls the
endpoint. Refusals are ProblemDetails: 401 without a valid credential, 403 when the credential
does not allow the action, 429 over a quota or after repeated failed authentications.
"""

from __future__ import annotations

import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.grants import tenant_named
from territoires.auth.policy import POLICY, Rule
from territoires.auth.principal import ANONYMOUS, Action, Grant, Principal, Role
from territoires.auth.quotas import Quotas
from territoires.auth.sessions import CSRF_FIELD, Sessions
from territoires.auth.throttle import FailedAuthThrottle
from territoires.broker.actor import Actor, acting
from territoires.broker.audit import AuditService
from territoires.broker.tenants import TENANT_NAME
from territoires.ngsild.errors import BadRequestData, NonexistentTenant

Endpoint = Callable[[Request], Awaitable[Response]]
TokenVerifier = Callable[[str], Principal | Awaitable[Principal]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 1024 * 1024   # a page form (a project record with its outcomes) stays far below

log = logging.getLogger("territoires.auth")

TENANT_HEADER = "ngsild-tenant"
# Everyone, when authentication is turned off (conformance suites, local trials).
OPEN_PRINCIPAL = Principal(kind="open", subject="open", grants=(Grant(Role.OPERATOR),), name="authentication off")


@dataclass
class Gate:
    """``verifiers`` map a token prefix (``trk_`` for API keys, ``eyJ`` for JWTs) to the
    function that turns such a token into a principal or raises Unauthenticated. The other
    collaborators are optional so that each can be assembled (and tested) on its own."""

    enabled: bool = True
    verifiers: dict[str, TokenVerifier] = field(default_factory=dict)
    sessions: Sessions | None = None
    public_types: Callable[[str], frozenset[str]] = lambda tenant: frozenset()
    quotas: Quotas | None = None
    throttle: FailedAuthThrottle | None = None
    audit: AuditService | None = None

    # ---- assembly ---------------------------------------------------------------------------
    def guard_routes(self, routes: Iterable[Route], policy: dict[tuple[str, str], Rule] = POLICY) -> list[Route]:
        """The routes with their endpoints wrapped; a route the policy does not name is an error."""
        guarded = []
        for route in routes:
            methods = sorted((route.methods or {"GET"}) - {"HEAD"})
            missing = [method for method in methods if (method, route.path) not in policy]
            if missing:
                raise LookupError(f"no access rule for {', '.join(missing)} {route.path} in auth/policy.py")
            rules = {method: policy[(method, route.path)] for method in methods}
            if "GET" in rules:
                rules["HEAD"] = rules["GET"]
            guarded.append(Route(route.path, self._guard(rules, route.endpoint), methods=route.methods,
                                 name=route.name, include_in_schema=route.include_in_schema))
        return guarded

    def _guard(self, rules: dict[str, Rule], endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            rule = rules[request.method]
            _refuse_nul(request)
            principal = await self.authenticate(request) if self.enabled else OPEN_PRINCIPAL
            request.state.principal = principal
            request.state.gate = self
            request.state.public_types = None
            tenant = self._tenant(request, rule)
            if rule.action is not None and rule.tenant != "handler":
                self._authorize(request, principal, rule, tenant)
            if tenant and self.quotas is not None:  # the default tenant is the operator's own
                self.quotas.charge_request(tenant)
                if rule.creates:
                    self.quotas.check_entities(tenant, adding=1)
            with acting(actor_of(principal)):
                response = await endpoint(request)
                if rule.audit and self.audit is not None and response.status_code < 300:
                    await self._record(request, rule.audit, tenant, response)
            return response

        return guarded

    async def _record(self, request: Request, operation: str, tenant: str | None, response: Response) -> None:
        """Record a write the change feed does not see, in the trail of the tenant it concerns
        (for routes checked by their handler, the one the handler checked). The write is done:
        a trail that cannot be written is logged, not answered as a failure of the write."""
        where = getattr(request.state, "checked_tenant", tenant) or ""
        target = response.headers.get("location") or request.url.path
        try:
            await run_in_threadpool(self.audit.record, where, operation, target)
        except Exception:
            log.exception("the audit trail of tenant %r could not record %s on %s", where, operation, target)

    # ---- who calls --------------------------------------------------------------------------
    async def authenticate(self, request: Request) -> Principal:
        """Who calls. Repeated failures from one address are slowed down, then refused (429)."""
        address = request.client.host if request.client else ""
        if self.throttle is not None:
            self.throttle.check(address)
        try:
            principal = await self._credential(request)
        except Unauthenticated:
            if self.throttle is not None:
                await self.throttle.failed(address)
            raise
        if self.throttle is not None and principal.authenticated:
            self.throttle.succeeded(address)
        return principal

    async def _credential(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            return await self._session(request) or ANONYMOUS
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("give the credential as 'Authorization: Bearer <API key or token>'")
        for prefix, verify in self.verifiers.items():
            if token.startswith(prefix):
                verified = verify(token)
                return await verified if inspect.isawaitable(verified) else verified
        raise Unauthenticated("the bearer credential is neither an API key of this platform nor a signed token")

    async def _session(self, request: Request) -> Principal | None:
        """The pages' session; a change through it must carry the session's CSRF token in the
        X-CSRF-Token header (a cookie travels with any cross-site request, the header does not),
        or, from a page's HTML form, in its ``csrf_token`` field (another site cannot read it)."""
        if self.sessions is None:
            return None
        principal = self.sessions.principal_from_request(request)
        if principal is not None and request.method in UNSAFE:
            given = request.headers.get(CSRF_HEADER) or await _form_token(request)
            if not hmac.compare_digest(given.encode(), self.sessions.csrf_token(principal).encode()):
                raise Forbidden("a change made with a session cookie needs its CSRF token in the X-CSRF-Token header "
                                "or, from a page form, in its csrf_token field: reload the page")
        return principal

    # ---- on which tenant, allowed to do what ------------------------------------------------
    @staticmethod
    def _tenant(request: Request, rule: Rule) -> str | None:
        """The tenant the rule names for this request; None for the platform itself (or when
        the handler decides)."""
        source = rule.tenant
        if source == "header":
            tenant = request.headers.get(TENANT_HEADER, "")
            if tenant and not TENANT_NAME.fullmatch(tenant):  # no such tenant can exist: quotas need not look
                raise NonexistentTenant(f"tenant {tenant!r} does not exist")
            return tenant
        if source.startswith("path:"):
            return tenant_named(request.path_params.get(source[5:], ""))
        if source.startswith("query:"):
            return request.query_params.get(source[6:])  # absent: a platform-wide listing
        return None

    def _authorize(self, request: Request, principal: Principal, rule: Rule, tenant: str | None) -> None:
        action = Action.OPERATE if tenant is None else rule.action
        assert action is not None
        if principal.may(action, tenant or ""):
            return
        if rule.public and tenant is not None:
            public = self.public_types(tenant)
            if public:
                request.state.public_types = public
                return
        self.refuse(principal, action, tenant or "")

    def require(self, request: Request, action: Action, tenant: str) -> None:
        """For routes whose tenant is known only from the resource: refuse unless allowed."""
        principal: Principal = request.state.principal
        if not principal.may(action, tenant):
            self.refuse(principal, action, tenant)
        request.state.checked_tenant = tenant

    @staticmethod
    def refuse(principal: Principal, action: Action, tenant: str) -> None:
        if not principal.authenticated:
            raise Unauthenticated("this resource needs a credential: give 'Authorization: Bearer <API key or token>'")
        where = "the platform" if action is Action.OPERATE else f"tenant {tenant!r}" if tenant else "the default tenant"
        raise Forbidden(f"this credential does not allow to {action.value} on {where}")


async def _form_token(request: Request) -> str:
    """The ``csrf_token`` field of an HTML form's body. The body read here stays cached on the
    request for the endpoint; a form without a declared, bounded length has no token."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != FORM_TYPE:
        return ""
    length = request.headers.get("content-length", "")
    if not (length.isascii() and length.isdigit()) or int(length) > MAX_FORM_BYTES:
        return ""
    values = parse_qs((await request.body()).decode("utf-8", "replace")).get(CSRF_FIELD, [""])
    return values[0]


def actor_of(principal: Principal) -> Actor:
    return Actor(kind=principal.kind, subject=principal.subject, credential_id=principal.credential_id,
                 name=principal.name)


def _refuse_nul(request: Request) -> None:
    """No name, id or filter holds U+0000, and PostgreSQL text cannot: a URL holding it is
    refused here, before anything (quotas, keys, tenants) is looked up with it."""
    # The scope's path, not ``request.url``: building the URL object costs more than the check.
    if "\x00" in request.scope["path"] or b"%00" in request.scope.get("query_string", b""):
        raise BadRequestData("the URL holds the NUL character (U+0000), which no name, id or filter may hold")
