-- Quotas per tenant. Platform-wide tables, like tenants and devices: the enforcement point
-- reads them before it knows whether the caller may see the tenant's rows. A tenant's rows go
-- with it (foreign key, ON DELETE CASCADE).

-- A tenant's own limits; NULL where the platform's default (settings) applies, 0 for unlimited.
CREATE TABLE quotas (
    tenant text PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    entities bigint,
    requests_per_minute bigint,
    uplinks_per_minute bigint
);

-- What every process counted, per tenant, kind ('requests', 'uplinks') and one-minute window
-- (whole minutes since the epoch). Each process adds its own count about once a second; only
-- the current window and the one before are kept.
CREATE TABLE quota_usage (
    tenant text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    kind text NOT NULL,
    minute bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant, kind, minute)
);
