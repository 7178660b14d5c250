-- French full-text search and facets (store/postgres_text.py), under the same FORCEd row-level
-- security as the entities. A document's tsvector is computed when it is indexed, as
-- to_tsvector('french', unaccent(…)) weighted A (title), B (summary), C (the rest): unaccent
-- is not IMMUTABLE, so it cannot be part of a generated column or an index expression, and
-- folding the accents before the French stemmer makes "éclairage" and "eclairage" one word.
-- unaccent is a trusted extension of postgresql-contrib (in Debian's postgresql-15): the
-- database's owner may create it.
-- Under row-level security the planner uses the GIN index for "document @@ query" only when
-- ts_match_vq(tsvector, tsquery) is LEAKPROOF, which only a superuser can declare (as for
-- geometry_overlaps); without it a search starts from the facet filters' index, or reads
-- every document of the tenant when it has none.

CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE text_documents (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    entity_id text NOT NULL,
    entity_type text NOT NULL,
    document tsvector NOT NULL,
    -- Its facet values again (facet_names[i] has facet_values[i]): a search counts them on the
    -- rows it matched, without a look-up in text_facets per match.
    facet_names text[] NOT NULL,
    facet_values text[] NOT NULL,
    PRIMARY KEY (tenant, entity_id)
);
CREATE INDEX text_documents_by_type ON text_documents (tenant, entity_type, entity_id COLLATE "C");
CREATE INDEX text_documents_search ON text_documents USING gin (document);

-- Facet values, keyed for the filters (facet, value) and indexed by document.
CREATE TABLE text_facets (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    facet text NOT NULL,
    value text NOT NULL,
    entity_id text NOT NULL,
    PRIMARY KEY (tenant, facet, value, entity_id)
);
CREATE INDEX text_facets_by_document ON text_facets (tenant, entity_id, facet, value);

ALTER TABLE text_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE text_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON text_documents USING (tenant = current_setting('territoires.tenant', true));
ALTER TABLE text_facets ENABLE ROW LEVEL SECURITY;
ALTER TABLE text_facets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON text_facets USING (tenant = current_setting('territoires.tenant', true));
