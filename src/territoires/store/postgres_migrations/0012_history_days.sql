-- The per-day rollup of the history (store/temporal_common.py, ``ROLLED``): per series and UTC
-- day (its midnight, in microseconds since 1970), the raw aggregates that combine across
-- periods, kept exact by every history write in its transaction. Aggregations over whole days
-- read it instead of every instance. Its rows go with their series (deleted history, deleted
-- tenant). Filled here from the history already recorded, with the aggregates as
-- store/postgres_temporal.py computes them (``_SQL``: extreme numbers count as infinite).
CREATE TABLE series_days (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    sid bigint NOT NULL,
    day bigint NOT NULL,
    n bigint NOT NULL,
    n_values bigint NOT NULL,
    total double precision,
    squares double precision,
    low double precision,
    high double precision,
    low_text text COLLATE "C",
    high_text text COLLATE "C",
    kind_low smallint,
    kind_high smallint,
    PRIMARY KEY (tenant, sid, day),
    FOREIGN KEY (tenant, sid) REFERENCES history_series (tenant, sid) ON DELETE CASCADE
);

ALTER TABLE history NO FORCE ROW LEVEL SECURITY;  -- the owner reads every tenant, for this once
INSERT INTO series_days (tenant, sid, day, n, n_values, total, squares, low, high, low_text, high_text,
                         kind_low, kind_high)
SELECT h.tenant, h.sid, h.ts - ((h.ts % 86400000000) + 86400000000) % 86400000000,
       count(*), count(h.num),
       sum(CASE WHEN abs(h.num) > 1e300 THEN sign(h.num) * 'Infinity'::float8 ELSE h.num END),
       sum(CASE WHEN abs(h.num) < 1e-150 THEN 0 WHEN abs(h.num) > 1e150 THEN 'Infinity'::float8
                ELSE h.num * h.num END),
       min(h.num), max(h.num),
       min(CASE WHEN h.kind = 3 THEN h.txt END), max(CASE WHEN h.kind = 3 THEN h.txt END),
       min(CASE WHEN h.num IS NOT NULL THEN h.kind END), max(CASE WHEN h.num IS NOT NULL THEN h.kind END)
FROM history h
GROUP BY 1, 2, 3;
ALTER TABLE history FORCE ROW LEVEL SECURITY;

ALTER TABLE series_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE series_days FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON series_days USING (tenant = current_setting('territoires.tenant', true));
