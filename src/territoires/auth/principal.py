"""Who a request acts as: a principal holding grants (a role, in a tenant or nationally).

Roles are per tenant (one member authority): ``admin`` manages the tenant's keys, members,
devices, quotas and audit trail; ``editor`` writes its data; ``reader`` reads it; ``device``
only sends measurements. ``operator`` runs the whole platform (creates tenants). The national
roles serve the observatory and calls for projects; their grants carry no tenant but may carry
a scope (the INSEE code of the territory a contributor speaks for).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    OPERATOR = "operator"
    ADMIN = "admin"
    EDITOR = "editor"
    READER = "reader"
    DEVICE = "device"
    CONTRIBUTOR = "contributor"
    MODERATOR = "moderator"
    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    JURY = "jury"


TENANT_ROLES = frozenset({Role.ADMIN, Role.EDITOR, Role.READER, Role.DEVICE})
NATIONAL_ROLES = frozenset({Role.CONTRIBUTOR, Role.MODERATOR, Role.APPLICANT, Role.REVIEWER, Role.JURY})


class Action(str, Enum):
    READ = "read"          # read a tenant's data, contexts and subscriptions
    MEASURE = "measure"    # update attribute values (what a sensor or a business application sends)
    WRITE = "write"        # create, change and delete entities, subscriptions and contexts
    ADMIN = "admin"        # manage the tenant: keys, members, devices, public types, quotas, audit
    OPERATE = "operate"    # manage the platform: tenants


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.READER: frozenset({Action.READ}),
    Role.DEVICE: frozenset({Action.MEASURE}),
    Role.EDITOR: frozenset({Action.READ, Action.MEASURE, Action.WRITE}),
    Role.ADMIN: frozenset({Action.READ, Action.MEASURE, Action.WRITE, Action.ADMIN}),
    Role.OPERATOR: frozenset(Action),
}


@dataclass(frozen=True)
class Grant:
    role: Role
    tenant: str | None = None   # the tenant a tenant role applies to; None for operator and national roles
    scope: str = ""             # national roles: what the grant is limited to (a territory's INSEE code)


@dataclass(frozen=True)
class Principal:
    kind: str                   # "key", "oidc", "session", "anonymous", "open" (authentication turned off), "bridge"
    subject: str                # key id, OIDC subject (issuer-qualified), "anonymous"
    grants: tuple[Grant, ...] = ()
    credential_id: str | None = None   # the API key id or the OIDC token's jti/session id
    name: str = ""              # what people read in the audit trail (key name, person's e-mail)

    def may(self, action: Action, tenant: str) -> bool:
        """Whether one of the principal's grants allows ``action`` on ``tenant``."""
        for grant in self.grants:
            if action in ROLE_ACTIONS.get(grant.role, ()) and (grant.role is Role.OPERATOR or grant.tenant == tenant):
                return True
        return False

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal(kind="anonymous", subject="anonymous")
