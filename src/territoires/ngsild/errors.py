"""The NGSI-LD error family (ETSI GS CIM 009, clause 5.5.2 and table 6.3.2-1).

Every refusal anywhere in the platform is one of these; the HTTP edge renders it as
``application/problem+json`` (RFC 7807). ``detail`` is written for a person who must
act on it: say what was wrong and where.
"""

from __future__ import annotations

from typing import Any

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base of every NGSI-LD error; subclasses fix the type URI, status and title."""

    status = 500
    title = "Internal error"
    # Response headers the refusal needs (Retry-After, WWW-Authenticate).
    headers: dict[str, str] = {}

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + type(self).__name__

    def to_problem(self) -> dict[str, Any]:
        problem = {"type": self.type_uri, "title": self.title, "status": self.status, "detail": self.detail}
        problem.update(self.extra)
        return problem


class InvalidRequest(NgsiLdError):
    status = 400
    title = "The request is syntactically invalid or includes wrong content"


class BadRequestData(NgsiLdError):
    status = 400
    title = "The request includes input data which does not meet the requirements of the operation"


class AlreadyExists(NgsiLdError):
    status = 409
    title = "The referred element already exists"


class OperationNotSupported(NgsiLdError):
    status = 422
    title = "The operation is not supported"


class ResourceNotFound(NgsiLdError):
    status = 404
    title = "The referred resource has not been found"


class InternalError(NgsiLdError):
    status = 500
    title = "There has been an error during the operation execution"


class TooComplexQuery(NgsiLdError):
    status = 403
    title = "The query is too complex to be answered"


class TooManyResults(NgsiLdError):
    status = 403
    title = "The query result is too large"


class LdContextNotAvailable(NgsiLdError):
    status = 504  # the mapping of error types to HTTP status codes (clause 6.3.2)
    title = "A remote JSON-LD @context could not be retrieved"


class NoMultiTenantSupport(NgsiLdError):
    status = 501
    title = "Tenants are not supported"


class NonexistentTenant(NgsiLdError):
    status = 404
    title = "The addressed tenant does not exist"


class PayloadTooLarge(NgsiLdError):
    """Not an NGSI-LD type of its own: a BadRequestData answered with HTTP 413."""

    status = 413
    title = "The request body is larger than this server accepts"

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + "BadRequestData"


class NotAcceptable(NgsiLdError):
    """Content negotiation failed: InvalidRequest answered with HTTP 406 (clause 6.3.4)."""

    status = 406
    title = "None of the accepted media types can be produced"

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + "InvalidRequest"


class UnsupportedMediaType(NgsiLdError):
    """The body's media type is not JSON or JSON-LD: InvalidRequest with HTTP 415 (clause 6.3.4)."""

    status = 415
    title = "The request body's media type is not supported"

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + "InvalidRequest"
