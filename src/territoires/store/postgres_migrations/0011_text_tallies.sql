-- Kept counts of the tallied facets' values (store/postgres_text.py): moved at each write from
-- a document's old values (its text_facets rows) to its new ones, so that counts over many
-- documents (the peers of a maturity diagnostic) are read, not recomputed.
CREATE TABLE text_tallies (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    entity_type text NOT NULL,
    facet text NOT NULL,
    value text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (tenant, entity_type, facet, value)
);

ALTER TABLE text_tallies ENABLE ROW LEVEL SECURITY;
ALTER TABLE text_tallies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON text_tallies USING (tenant = current_setting('territoires.tenant', true));
