-- Transient entities (clause 4.22): the value index holds each expiry, the entity's own and
-- each attribute instance's, under the core IRI of expiresAt and in microseconds since 1970
-- (value_index.entity_scalars), where the expiry sweep finds what is due. Entities stored
-- before this version with an expiresAt are indexed here.
ALTER TABLE entities NO FORCE ROW LEVEL SECURITY;  -- the owner reads every tenant, for this once
ALTER TABLE attr_values NO FORCE ROW LEVEL SECURITY;
INSERT INTO attr_values (tenant, rid, name, number)
SELECT e.tenant, e.rid, 'https://uri.etsi.org/ngsi-ld/expiresAt',
       (extract(epoch FROM (x.at)::timestamptz) * 1000000)::double precision
FROM entities e
CROSS JOIN LATERAL (
    SELECT e.doc ->> 'expiresAt' WHERE e.doc ? 'expiresAt'
    UNION ALL
    SELECT i ->> 'expiresAt'
    FROM jsonb_each(e.doc -> 'attrs') AS a(name, instances)
    CROSS JOIN LATERAL jsonb_array_elements(a.instances) AS inst(i)
    WHERE i ? 'expiresAt'
) AS x(at)
WHERE strpos(e.doc::text, '"expiresAt"') > 0;
ALTER TABLE attr_values FORCE ROW LEVEL SECURITY;
ALTER TABLE entities FORCE ROW LEVEL SECURITY;
