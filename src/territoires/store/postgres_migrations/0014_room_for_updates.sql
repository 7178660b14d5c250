-- Room on each page for the next version of its rows. Each uplink rewrites its entity's row
-- and the rollup rows of its series' day; with full pages (fillfactor 100) the new version
-- lands on another page and every index of the table gets a new entry (entities has three),
-- which vacuum must clean later. With room left, PostgreSQL writes it on the same page and
-- touches no index (a HOT update: no indexed column changes). Pages written from now on keep
-- the room; existing ones are left as they are.
ALTER TABLE entities SET (fillfactor = 70);
ALTER TABLE series_days SET (fillfactor = 70);
