-- Access: API keys, members (people's roles) and public types. Platform-wide tables, like the
-- device registry: a key or a person's role is found before any tenant is named, so they carry
-- no row-level security; each row goes with its tenant (foreign key, ON DELETE CASCADE).
-- Times are text as the clock writes them (ISO 8601 UTC, fixed width): text order is time order.

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    secret_hash text NOT NULL,                                       -- SHA-256 of the secret, hex
    tenant text REFERENCES tenants (name) ON DELETE CASCADE,         -- NULL: an operator or national key
    role text NOT NULL,
    scope text NOT NULL DEFAULT '',
    name text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    expires_at text,
    revoked_at text,
    last_used_at text,
    created_by text NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at, id);

CREATE TABLE members (
    id text PRIMARY KEY,
    issuer text NOT NULL,                                            -- '': any configured issuer (by e-mail)
    subject text NOT NULL,                                           -- '': known by e-mail only yet
    email text NOT NULL,                                             -- lower-cased; '' when unknown
    role text NOT NULL,
    tenant text REFERENCES tenants (name) ON DELETE CASCADE,         -- NULL: an operator or national role
    scope text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    created_by text NOT NULL DEFAULT '',
    UNIQUE NULLS NOT DISTINCT (issuer, subject, email, role, tenant, scope)
);
CREATE INDEX members_by_subject ON members (subject, issuer);
CREATE INDEX members_by_email ON members (email);
CREATE INDEX members_by_tenant ON members (tenant, created_at, id);

-- The entity types (expanded IRIs) of a tenant that anonymous visitors may read.
CREATE TABLE public_types (
    tenant text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    type text NOT NULL,
    PRIMARY KEY (tenant, type)
);
