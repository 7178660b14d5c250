-- Subscriptions (clause 5.8), each a JSON document of its internal form
-- (territoires.ngsild.subscription), under the same FORCEd row-level security as entities.
-- "active" and "expires" (an instant written as clock.now() writes it, compared as bytes)
-- let the matcher load the subscriptions that may notify without reading the others;
-- subscription_versions holds, per tenant, the token of the last change, on which each
-- process caches its parsed subscriptions.

CREATE TABLE subscriptions (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    seq bigint GENERATED ALWAYS AS IDENTITY,
    id text NOT NULL,
    active boolean NOT NULL,
    expires text COLLATE "C",
    doc text NOT NULL,  -- JSON text: key order kept, and U+0000 escaped as jsonb cannot hold it
    PRIMARY KEY (tenant, id)
);
CREATE INDEX subscriptions_by_seq ON subscriptions (tenant, seq);

CREATE TABLE subscription_versions (
    tenant text PRIMARY KEY DEFAULT current_setting('territoires.tenant', true),
    token text NOT NULL
);

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON subscriptions USING (tenant = current_setting('territoires.tenant', true));
ALTER TABLE subscription_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscription_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON subscription_versions USING (tenant = current_setting('territoires.tenant', true));
