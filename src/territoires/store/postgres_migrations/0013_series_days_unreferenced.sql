-- The rollup's rows no longer reference their series by a foreign key. Its check ran one query
-- per inserted rollup row, as long as the insert itself (about 17 µs a row, 8 rows for every
-- entity a batch creates). The store deletes a series' rollup rows with the series
-- (store/postgres_temporal.py), and a deleted tenant's with its other rows (store/postgres.py).
ALTER TABLE series_days DROP CONSTRAINT series_days_tenant_sid_fkey;
