"""Tenants: one per member authority, created and deleted at run time (clause 4.14)."""

from __future__ import annotations

import re
from collections.abc import Callable

from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.store.port import DEFAULT_TENANT, Store

# Tenant names travel in an HTTP header and name files and schemas: keep them plain.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def validate_tenant_name(name: object) -> str:
    if not isinstance(name, str) or not TENANT_NAME.fullmatch(name):
        raise BadRequestData(
            f"tenant name {name!r} is invalid: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def in_every_tenant(store: Store, work: Callable[[str], int]) -> dict[str, int]:
    """Run ``work`` on each tenant, the default one first (a tenant deleted meanwhile is passed
    over); what it counted, by tenant, where it counted some."""
    counted: dict[str, int] = {}
    for tenant in [DEFAULT_TENANT, *store.tenants()]:
        try:
            count = work(tenant)
        except NonexistentTenant:
            continue
        if count:
            counted[tenant] = count
    return counted


class TenantService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: object) -> str:
        tenant = validate_tenant_name(name)
        self.store.create_tenant(tenant)
        return tenant

    def delete(self, name: str) -> None:
        self.store.delete_tenant(validate_tenant_name(name))

    def list(self) -> list[str]:
        return self.store.tenants()

    def public_types(self, name: str) -> frozenset[str]:
        """The entity types (expanded IRIs) anyone may read in this tenant, as its administrators
        published them (the enforcement point reads the same, through ``auth.public_types``)."""
        return self.store.public_types(validate_tenant_name(name))
