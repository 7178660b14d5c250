-- The value index (store/value_index.py): every scalar of every top-level attribute instance,
-- so that a selective q term reads a few rows instead of every document. Strings and numbers
-- (booleans as 1 and 0) have a column each; their btree comparisons are LEAKPROOF, so the
-- indexes serve under row-level security. Entities already stored are indexed here, reading
-- their documents as value_index.entity_scalars does.

CREATE TABLE attr_values (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    rid bigint NOT NULL,
    name text NOT NULL,
    value text COLLATE "C",
    number double precision
);

ALTER TABLE entities NO FORCE ROW LEVEL SECURITY;  -- the owner reads every tenant, for this once
INSERT INTO attr_values (tenant, rid, name, value, number)
SELECT e.tenant, e.rid, a.name,
       CASE jsonb_typeof(s.v) WHEN 'string' THEN s.v #>> '{}' END,
       CASE jsonb_typeof(s.v) WHEN 'number' THEN (s.v #>> '{}')::double precision
                              WHEN 'boolean' THEN CASE WHEN s.v = 'true'::jsonb THEN 1 ELSE 0 END END
FROM entities e
CROSS JOIN LATERAL jsonb_each(e.doc -> 'attrs') AS a(name, instances)
CROSS JOIN LATERAL jsonb_array_elements(a.instances) AS inst(i)
CROSS JOIN LATERAL (
    SELECT m.c FROM (VALUES (i -> 'value'), (i -> 'object'), (i -> 'vocab'), (i -> 'json'),
                            (i -> 'valueList'), (i -> 'objectList')) AS m(c)
    WHERE m.c IS NOT NULL
    UNION ALL
    SELECT l.value FROM jsonb_each(CASE jsonb_typeof(i -> 'languageMap') WHEN 'object' THEN i -> 'languageMap'
                                   ELSE '{}'::jsonb END) AS l
) AS content(c)
CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(content.c) WHEN 'array' THEN content.c
                                        ELSE jsonb_build_array(content.c) END) AS item(x)
CROSS JOIN LATERAL (SELECT CASE jsonb_typeof(item.x) WHEN 'object' THEN
                        CASE WHEN item.x ? '@value' THEN item.x -> '@value' ELSE item.x -> 'object' END
                        ELSE item.x END) AS s(v)
WHERE i ->> 'type' <> 'GeoProperty' AND jsonb_typeof(s.v) IN ('string', 'number', 'boolean');
ALTER TABLE entities FORCE ROW LEVEL SECURITY;

CREATE INDEX attr_values_by_value ON attr_values (tenant, name, value) WHERE value IS NOT NULL;
CREATE INDEX attr_values_by_number ON attr_values (tenant, name, number) WHERE number IS NOT NULL;
CREATE INDEX attr_values_by_rid ON attr_values (tenant, rid);

ALTER TABLE attr_values ENABLE ROW LEVEL SECURITY;
ALTER TABLE attr_values FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON attr_values USING (tenant = current_setting('territoires.tenant', true));
