-- Frames are forgotten by when they were recorded, not by their uplink time: a backlog of old
-- uplinks stays deduplicated as long as fresh ones. Frames recorded before this version take
-- their uplink time, the best guess left.
ALTER TABLE frames ADD COLUMN seen bigint;
ALTER TABLE frames NO FORCE ROW LEVEL SECURITY;  -- the owner updates every tenant's, for this once
UPDATE frames SET seen = at;
ALTER TABLE frames FORCE ROW LEVEL SECURITY;
ALTER TABLE frames ALTER COLUMN seen SET NOT NULL;
DROP INDEX frames_by_time;
CREATE INDEX frames_by_seen ON frames (tenant, seen);
