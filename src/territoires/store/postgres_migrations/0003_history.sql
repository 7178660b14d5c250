-- The temporal evolution of attributes (store/temporal_common.py describes a row).
-- history_series: one row per attribute instance series (entity, attribute, datasetId; '' for
-- the default instance). history: one row per recorded instance, times as microseconds since
-- 1970 UTC; ts is the instance's observedAt, or its modifiedAt when it has none.
-- history is partitioned by ts, one partition a year (2000-2049; a default partition holds
-- anything else), each with a BRIN index on ts (rows arrive roughly in time order) and the
-- btree (tenant, sid, ts) that reads one series in time order. Every table and partition
-- carries the tenant and the same forced row-level security policy as the others.

CREATE TABLE history_series (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    sid bigint GENERATED ALWAYS AS IDENTITY,
    entity text NOT NULL,
    attr text NOT NULL,
    dataset text NOT NULL,
    PRIMARY KEY (tenant, sid),
    UNIQUE (tenant, entity, attr, dataset)
);

CREATE SEQUENCE history_iid_seq;

CREATE TABLE history (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    sid bigint NOT NULL,
    ts bigint NOT NULL,
    iid bigint NOT NULL DEFAULT nextval('history_iid_seq'),
    num double precision,
    kind smallint NOT NULL,
    modified bigint,
    created bigint NOT NULL,
    deleted bigint,
    txt text COLLATE "C",
    doc jsonb
) PARTITION BY RANGE (ts);

CREATE INDEX history_by_series ON history (tenant, sid, ts);
CREATE INDEX history_by_time ON history USING brin (ts);

-- Entities deleted while their history is kept: their identity (id, types, scope, createdAt).
CREATE TABLE history_kept (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    id text NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (tenant, id)
);

DO $$
DECLARE
    year integer;
    tenant_table text;
    tenant_tables text[] := ARRAY['history_series', 'history', 'history_kept', 'history_default'];
BEGIN
    CREATE TABLE history_default PARTITION OF history DEFAULT;
    FOR year IN 2000..2049 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF history FOR VALUES FROM (%s) TO (%s)',
                       'history_' || year,
                       (extract(epoch FROM make_timestamptz(year, 1, 1, 0, 0, 0, 'UTC')) * 1000000)::bigint,
                       (extract(epoch FROM make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'UTC')) * 1000000)::bigint);
        tenant_tables := tenant_tables || ('history_' || year);
    END LOOP;
    FOREACH tenant_table IN ARRAY tenant_tables LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant = current_setting(''territoires.tenant'', true))',
                       tenant_table);
    END LOOP;
END
$$;
