"""What a role may be given on: the checks API keys and members share.

Tenant roles (admin, editor, reader, device) apply to one existing tenant; the operator role
and the national roles apply to no tenant, and only national roles carry a scope (the INSEE
code of the territory a contributor speaks for). A tenant is named in paths and on the command
line; the default tenant, whose name is empty, is written ``_default`` there (no tenant can be
called so: names start with a letter or a digit).
"""

from __future__ import annotations

from typing import Any

from territoires.auth.principal import NATIONAL_ROLES, TENANT_ROLES, Grant, Role
from territoires.broker.tenants import validate_tenant_name
from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.store.port import DEFAULT_TENANT, Store

DEFAULT_TENANT_SEGMENT = "_default"
_SCOPE_LENGTH = 100


def tenant_named(segment: str) -> str:
    """The tenant a path segment or a command-line value names (``_default``: the default tenant)."""
    return DEFAULT_TENANT if segment == DEFAULT_TENANT_SEGMENT else validate_tenant_name(segment)


def segment_of(tenant: str) -> str:
    """How a tenant is written in paths: the inverse of :func:`tenant_named`."""
    return tenant or DEFAULT_TENANT_SEGMENT


def require_tenant(store: Store, tenant: str) -> None:
    """``NonexistentTenant`` unless ``tenant`` exists (the default tenant always does)."""
    if tenant != DEFAULT_TENANT and tenant not in store.tenants():
        raise NonexistentTenant(f"tenant {tenant!r} does not exist")


def role_named(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise BadRequestData(f"role must be one of {names}, not {value!r}") from None


def grant_of(role: Any, tenant: str | None, scope: Any = "") -> Grant:
    """The grant a key or a member would hold, checked (the tenant's existence is the store's
    to check, atomically with the write)."""
    checked = role_named(role)
    if scope is None:
        scope = ""
    if not isinstance(scope, str) or len(scope) > _SCOPE_LENGTH:
        raise BadRequestData(f"scope must be a text of at most {_SCOPE_LENGTH} characters, not {scope!r}")
    if checked in TENANT_ROLES:
        if tenant is None:
            raise BadRequestData(f"the role {checked.value} applies to a tenant: name one")
        if scope:
            raise BadRequestData(f"the role {checked.value} takes no scope; scopes are for national roles")
        return Grant(checked, tenant)
    if tenant is not None:
        kind = "national" if checked in NATIONAL_ROLES else "platform"
        raise BadRequestData(f"the role {checked.value} is a {kind} role: it takes no tenant")
    if checked not in NATIONAL_ROLES and scope:
        raise BadRequestData(f"the role {checked.value} takes no scope; scopes are for national roles")
    return Grant(checked, None, scope)
