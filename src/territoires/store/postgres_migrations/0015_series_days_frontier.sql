-- The rollup's frontier, per tenant: the first UTC day (its midnight, in microseconds since
-- 1970) that series_days leaves out. Rows of that day on (live measures, new entities) are
-- not rolled up as they are written: aggregations read them raw, and the first write of a
-- later day rolls up the days it leaves behind and moves the frontier
-- (store/postgres_temporal.py). No row: the rollup covers every day.
--
-- Every write kept the rollup of every day until now, so each tenant that has some starts
-- with its frontier just after its last rolled-up day: nothing lies beyond it.
CREATE TABLE series_days_frontier (
    tenant text PRIMARY KEY DEFAULT current_setting('territoires.tenant', true) REFERENCES tenants (name) ON DELETE CASCADE,
    day bigint NOT NULL
);

ALTER TABLE series_days NO FORCE ROW LEVEL SECURITY;  -- the owner reads every tenant, for this once
INSERT INTO series_days_frontier (tenant, day)
SELECT tenant, max(day) + 86400000000 FROM series_days GROUP BY tenant;
ALTER TABLE series_days FORCE ROW LEVEL SECURITY;

ALTER TABLE series_days_frontier ENABLE ROW LEVEL SECURITY;
ALTER TABLE series_days_frontier FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON series_days_frontier USING (tenant = current_setting('territoires.tenant', true));
