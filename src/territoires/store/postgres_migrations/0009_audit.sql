-- The audit trail (store/postgres_audit.py): who wrote what in a tenant, one row per changed
-- attribute, created or deleted entity, or other write. Rows are written in the transaction of
-- the write they describe, under the same FORCEd row-level security as the entities.
-- "at" is an instant as clock.now() writes it (fixed width, compared as bytes: COLLATE "C");
-- seq orders the trail. Indexes, all led by the tenant: time (filters and retention), target
-- (who changed this entity) and subject (what did this credential do).
-- Personal data kept: the principal's kind, subject, credential id and name, nothing else.

CREATE TABLE audit (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    seq bigint GENERATED ALWAYS AS IDENTITY,
    at text COLLATE "C" NOT NULL,
    operation text NOT NULL,
    target text NOT NULL,
    attribute text,
    kind text NOT NULL,
    subject text NOT NULL,
    credential text,
    name text NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_by_time ON audit (tenant, at);
CREATE INDEX audit_by_target ON audit (tenant, target, seq);
CREATE INDEX audit_by_subject ON audit (tenant, subject, seq);

ALTER TABLE audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit USING (tenant = current_setting('territoires.tenant', true));
