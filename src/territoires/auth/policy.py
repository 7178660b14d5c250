"""The access policy: one rule per route, in one table a reviewer can read at a glance.

A route without a rule cannot be served: the gate refuses to assemble the application
(deny by default). ``tenant`` says where the tenant a request acts on comes from:
- ``"header"``: the ``NGSILD-Tenant`` header (absent: the default tenant);
- ``"path:<param>"`` / ``"query:<param>"``: a path or query parameter (absent query parameter: the
  platform, so only an operator may omit it);
- ``"platform"``: no tenant, the platform itself (an operator's business);
- ``"handler"``: known only once the resource is loaded; the handler asks the gate itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from territoires.auth.principal import Action

NGSI = "/ngsi-ld/v1"
ADMIN = "/admin/v1"
OBSERVATORY = "/api/observatoire/v1"


@dataclass(frozen=True)
class Rule:
    action: Action | None            # None: open to everyone, no credential needed
    tenant: str = "header"
    public: bool = False             # anyone may read the tenant's public entity types through it
    creates: bool = False            # may create entities: the tenant's entities quota applies
    audit: str | None = None         # operation recorded in the audit trail (writes the change feed does not see)


OPEN = Rule(None, tenant="platform")
READ = Rule(Action.READ)
PUBLIC_READ = Rule(Action.READ, public=True)
MEASURE = Rule(Action.MEASURE)
WRITE = Rule(Action.WRITE)
CREATE = Rule(Action.WRITE, creates=True)
OPERATE = Rule(Action.OPERATE, tenant="platform")
# Passes the gate with the caller identified; the domain service decides (national roles).
NATIONAL = Rule(None, tenant="platform")


def _audited(rule: Rule, operation: str) -> Rule:
    return Rule(rule.action, rule.tenant, rule.public, rule.creates, operation)


def _tenant_admin(operation: str | None = None) -> Rule:
    return Rule(Action.ADMIN, tenant="path:name", audit=operation)


POLICY: dict[tuple[str, str], Rule] = {
    ("GET", "/"): OPEN,
    ("GET", "/health"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    # NGSI-LD entities (clauses 6.4 – 6.7, 6.14 – 6.23)
    ("GET", f"{NGSI}/entities"): PUBLIC_READ,
    ("POST", f"{NGSI}/entities"): CREATE,
    ("DELETE", f"{NGSI}/entities"): WRITE,
    ("GET", f"{NGSI}/entities/{{entity_id}}"): PUBLIC_READ,
    ("DELETE", f"{NGSI}/entities/{{entity_id}}"): WRITE,
    ("PUT", f"{NGSI}/entities/{{entity_id}}"): WRITE,
    ("PATCH", f"{NGSI}/entities/{{entity_id}}"): WRITE,
    ("POST", f"{NGSI}/entities/{{entity_id}}/attrs"): WRITE,
    ("PATCH", f"{NGSI}/entities/{{entity_id}}/attrs"): MEASURE,
    ("PATCH", f"{NGSI}/entities/{{entity_id}}/attrs/{{attr}}"): MEASURE,
    ("PUT", f"{NGSI}/entities/{{entity_id}}/attrs/{{attr}}"): WRITE,
    ("DELETE", f"{NGSI}/entities/{{entity_id}}/attrs/{{attr}}"): WRITE,
    ("POST", f"{NGSI}/entityOperations/create"): CREATE,
    ("POST", f"{NGSI}/entityOperations/upsert"): CREATE,
    ("POST", f"{NGSI}/entityOperations/update"): MEASURE,
    ("POST", f"{NGSI}/entityOperations/merge"): WRITE,
    ("POST", f"{NGSI}/entityOperations/delete"): WRITE,
    ("POST", f"{NGSI}/entityOperations/query"): PUBLIC_READ,
    # temporal (clauses 6.18 – 6.24)
    ("GET", f"{NGSI}/temporal/entities"): PUBLIC_READ,
    ("POST", f"{NGSI}/temporal/entities"): _audited(CREATE, "temporalProvision"),
    ("GET", f"{NGSI}/temporal/entities/{{entity_id}}"): PUBLIC_READ,
    ("DELETE", f"{NGSI}/temporal/entities/{{entity_id}}"): WRITE,
    ("POST", f"{NGSI}/temporal/entities/{{entity_id}}/attrs"): _audited(MEASURE, "temporalProvision"),
    ("DELETE", f"{NGSI}/temporal/entities/{{entity_id}}/attrs/{{attr}}"): _audited(WRITE, "deleteTemporalAttribute"),
    ("PATCH", f"{NGSI}/temporal/entities/{{entity_id}}/attrs/{{attr}}/{{instance_id}}"): _audited(
        WRITE, "modifyTemporalInstance"),
    ("DELETE", f"{NGSI}/temporal/entities/{{entity_id}}/attrs/{{attr}}/{{instance_id}}"): _audited(
        WRITE, "deleteTemporalInstance"),
    ("POST", f"{NGSI}/temporal/entityOperations/query"): PUBLIC_READ,
    # discovery, @contexts, subscriptions
    ("GET", f"{NGSI}/types"): READ,
    ("GET", f"{NGSI}/types/{{type:path}}"): READ,
    ("GET", f"{NGSI}/attributes"): READ,
    ("GET", f"{NGSI}/attributes/{{attr:path}}"): READ,
    ("GET", f"{NGSI}/info/sourceIdentity"): READ,
    ("GET", f"{NGSI}/jsonldContexts"): READ,
    ("POST", f"{NGSI}/jsonldContexts"): _audited(WRITE, "addContext"),
    ("GET", f"{NGSI}/jsonldContexts/{{context_id:path}}"): READ,
    ("DELETE", f"{NGSI}/jsonldContexts/{{context_id:path}}"): _audited(WRITE, "deleteContext"),
    ("GET", f"{NGSI}/subscriptions"): READ,
    ("POST", f"{NGSI}/subscriptions"): _audited(WRITE, "createSubscription"),
    ("GET", f"{NGSI}/subscriptions/{{subscription_id}}"): READ,
    ("PATCH", f"{NGSI}/subscriptions/{{subscription_id}}"): _audited(WRITE, "updateSubscription"),
    ("DELETE", f"{NGSI}/subscriptions/{{subscription_id}}"): _audited(WRITE, "deleteSubscription"),
    # administration: tenants (the platform's), devices (checked on the device's tenant)
    ("GET", f"{ADMIN}/tenants"): OPERATE,
    ("POST", f"{ADMIN}/tenants"): _audited(OPERATE, "createTenant"),
    ("DELETE", f"{ADMIN}/tenants/{{name}}"): _audited(OPERATE, "deleteTenant"),
    ("GET", f"{ADMIN}/devices"): Rule(Action.ADMIN, tenant="query:tenant"),
    ("POST", f"{ADMIN}/devices"): Rule(Action.ADMIN, tenant="handler", audit="registerDevice"),
    ("GET", f"{ADMIN}/devices/{{eui}}"): Rule(Action.ADMIN, tenant="handler"),
    ("PATCH", f"{ADMIN}/devices/{{eui}}"): Rule(Action.ADMIN, tenant="handler", audit="updateDevice"),
    ("DELETE", f"{ADMIN}/devices/{{eui}}"): Rule(Action.ADMIN, tenant="handler", audit="deleteDevice"),
    ("GET", f"{ADMIN}/quarantine"): Rule(Action.ADMIN, tenant="query:tenant"),
    ("GET", f"{ADMIN}/ingestion"): OPERATE,
    # administration of a tenant by its admins: keys, members, public types, quotas, audit trail,
    # dead letters of its notifications
    ("GET", f"{ADMIN}/tenants/{{name}}/keys"): _tenant_admin(),
    ("POST", f"{ADMIN}/tenants/{{name}}/keys"): _tenant_admin("createKey"),
    ("GET", f"{ADMIN}/tenants/{{name}}/keys/{{id}}"): _tenant_admin(),
    ("DELETE", f"{ADMIN}/tenants/{{name}}/keys/{{id}}"): _tenant_admin("revokeKey"),
    ("GET", f"{ADMIN}/tenants/{{name}}/members"): _tenant_admin(),
    ("POST", f"{ADMIN}/tenants/{{name}}/members"): _tenant_admin("addMember"),
    ("DELETE", f"{ADMIN}/tenants/{{name}}/members/{{id}}"): _tenant_admin("removeMember"),
    ("GET", f"{ADMIN}/tenants/{{name}}/public-types"): _tenant_admin(),
    ("PUT", f"{ADMIN}/tenants/{{name}}/public-types"): _tenant_admin("setPublicTypes"),
    ("GET", f"{ADMIN}/tenants/{{name}}/quotas"): _tenant_admin(),
    ("PUT", f"{ADMIN}/tenants/{{name}}/quotas"): Rule(Action.OPERATE, tenant="path:name", audit="setQuotas"),
    ("GET", f"{ADMIN}/tenants/{{name}}/audit"): _tenant_admin(),
    ("GET", f"{ADMIN}/tenants/{{name}}/audit/export"): _tenant_admin(),
    ("GET", f"{ADMIN}/tenants/{{name}}/dead-letters"): _tenant_admin(),
    ("POST", f"{ADMIN}/tenants/{{name}}/dead-letters/revive"): _tenant_admin("reviveDeadLetters"),
    ("POST", f"{ADMIN}/tenants/{{name}}/dead-letters/drop"): _tenant_admin("dropDeadLetters"),
    # platform operators' keys
    ("GET", f"{ADMIN}/keys"): OPERATE,
    ("POST", f"{ADMIN}/keys"): _audited(OPERATE, "createKey"),
    ("DELETE", f"{ADMIN}/keys/{{id}}"): _audited(OPERATE, "revokeKey"),
    # the national observatory: reads open; who may draft, edit or publish a record (national
    # roles: contributors of a territory, moderators) is the observatory service's rule
    ("GET", f"{OBSERVATORY}/context.jsonld"): OPEN,
    ("GET", f"{OBSERVATORY}/vocabularies"): OPEN,
    ("GET", f"{OBSERVATORY}/territories"): OPEN,
    ("GET", f"{OBSERVATORY}/territories/{{kind}}/{{code}}"): OPEN,
    ("GET", f"{OBSERVATORY}/projects"): OPEN,
    ("GET", f"{OBSERVATORY}/projects.csv"): OPEN,
    ("GET", f"{OBSERVATORY}/projects.json"): OPEN,
    ("GET", f"{OBSERVATORY}/projects/{{id}}"): OPEN,
    ("GET", f"{OBSERVATORY}/projects/{{id}}/history"): OPEN,
    ("GET", f"{OBSERVATORY}/projects/{{id}}/similar"): OPEN,
    ("POST", f"{OBSERVATORY}/projects"): NATIONAL,
    ("PATCH", f"{OBSERVATORY}/projects/{{id}}"): NATIONAL,
    ("POST", f"{OBSERVATORY}/projects/{{id}}/publish"): NATIONAL,
    ("POST", f"{OBSERVATORY}/projects/{{id}}/send-back"): NATIONAL,
    # cooperation: intentions, partner proposals and working groups; reads open, writes decided
    # by the services (contributors of a territory, animateurs of a group, moderators)
    ("GET", f"{OBSERVATORY}/intentions/{{kind}}/{{code}}"): OPEN,
    ("PUT", f"{OBSERVATORY}/intentions/{{kind}}/{{code}}"): NATIONAL,
    ("DELETE", f"{OBSERVATORY}/intentions/{{kind}}/{{code}}"): NATIONAL,
    ("GET", f"{OBSERVATORY}/partners"): OPEN,
    ("GET", f"{OBSERVATORY}/working-groups"): OPEN,
    ("POST", f"{OBSERVATORY}/working-groups"): NATIONAL,
    ("GET", f"{OBSERVATORY}/working-groups/{{id}}"): OPEN,
    ("PATCH", f"{OBSERVATORY}/working-groups/{{id}}"): NATIONAL,
    ("DELETE", f"{OBSERVATORY}/working-groups/{{id}}"): NATIONAL,
    ("POST", f"{OBSERVATORY}/working-groups/{{id}}/meetings"): NATIONAL,
    ("DELETE", f"{OBSERVATORY}/working-groups/{{id}}/meetings/{{item}}"): NATIONAL,
    ("POST", f"{OBSERVATORY}/working-groups/{{id}}/links"): NATIONAL,
    ("DELETE", f"{OBSERVATORY}/working-groups/{{id}}/links/{{item}}"): NATIONAL,
    ("POST", f"{OBSERVATORY}/working-groups/{{id}}/members"): NATIONAL,
    ("DELETE", f"{OBSERVATORY}/working-groups/{{id}}/members/{{item}}"): NATIONAL,
    # cooperation pages: reading open; the forms' handlers check who is signed in
    ("GET", "/observatoire/cooperation"): OPEN,
    ("GET", "/observatoire/groupes"): OPEN,
    ("GET", "/observatoire/groupes/nouveau"): OPEN,
    ("POST", "/observatoire/groupes/nouveau"): OPEN,
    ("GET", "/observatoire/groupes/{id}"): OPEN,
    ("POST", "/observatoire/groupes/{id}/{action}"): OPEN,
    # maturity diagnostics: who writes, and who reads one not yet published (the territory's
    # contributors, moderators), is the assessment service's rule
    ("GET", f"{OBSERVATORY}/diagnostic/questionnaire"): OPEN,
    ("GET", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic"): NATIONAL,
    ("PUT", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic"): NATIONAL,
    ("POST", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic/publish"): NATIONAL,
    ("POST", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic/unpublish"): NATIONAL,
    ("GET", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic/history"): NATIONAL,
    ("GET", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic/peers"): NATIONAL,
    ("GET", f"{OBSERVATORY}/territories/{{kind}}/{{code}}/diagnostic/recommendations"): NATIONAL,
    # diagnostic pages: reading open (the service hides what is private); the questionnaire's
    # handlers send a visitor not signed in to /connexion and refuse others than the territory's
    ("GET", "/observatoire/diagnostic"): OPEN,
    ("GET", "/observatoire/diagnostic/{kind}/{code}"): OPEN,
    ("POST", "/observatoire/diagnostic/{kind}/{code}"): OPEN,
    ("GET", "/observatoire/diagnostic/{kind}/{code}/resultats"): OPEN,
    ("POST", "/observatoire/diagnostic/{kind}/{code}/publication"): OPEN,
    # pages: signing in and out (the pages check their own CSRF tokens)
    ("GET", "/connexion"): OPEN,
    ("GET", "/connexion/retour"): OPEN,
    ("GET", "/connexion/cle"): OPEN,
    ("POST", "/connexion/cle"): OPEN,
    ("POST", "/deconnexion"): OPEN,
    # pages: static files (site CSS, scripts, vendor libraries)
    ("GET", "/static/{path:path}"): OPEN,
    # pages: the catalogue of projects (the forms check their sign-in and CSRF token, the
    # project service who may write or moderate)
    ("GET", "/observatoire"): OPEN,
    ("GET", "/observatoire/projets"): OPEN,
    ("GET", "/observatoire/projets/nouveau"): OPEN,
    ("POST", "/observatoire/projets/nouveau"): NATIONAL,
    ("GET", "/observatoire/projets/{id}"): OPEN,
    ("GET", "/observatoire/projets/{id}/modifier"): OPEN,
    ("POST", "/observatoire/projets/{id}/modifier"): NATIONAL,
    ("POST", "/observatoire/projets/{id}/publier"): NATIONAL,
    ("POST", "/observatoire/projets/{id}/renvoyer"): NATIONAL,
    ("GET", "/observatoire/carte"): OPEN,
}
