"""Refusals of the enforcement point. NGSI-LD defines no error type for them, so their type
URIs are ours; they leave as ProblemDetails like every other error."""

from __future__ import annotations

from territoires.ngsild.errors import NgsiLdError

ERROR_BASE = "urn:territoires:errors:"


class AccessError(NgsiLdError):
    @property
    def type_uri(self) -> str:
        return ERROR_BASE + type(self).__name__


class Unauthenticated(AccessError):
    """No credential, or one that is not valid (unknown, expired, revoked, badly signed)."""

    status = 401
    title = "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="territoires"'}


class Forbidden(AccessError):
    """A valid credential whose grants do not allow what the request asks."""

    status = 403
    title = "Not allowed"


class TooManyRequests(AccessError):
    """A quota of the tenant, or too many failed authentications from one client."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, retry_after))}
