-- LoRaWAN ingestion. The device registry and the quarantine are platform-wide, like tenants:
-- a DevEUI names its tenant, so the bridge finds the tenant of an uplink before naming one.
-- The frames seen belong to the tenant whose entities they updated: they are written in the
-- same transaction as the update, under the same FORCEd row-level security as entities.

CREATE TABLE devices (
    dev_eui text PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,  -- gone with its tenant
    entity_id text NOT NULL,
    entity_type text NOT NULL,
    decoder text NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    modified_at text NOT NULL
);
CREATE INDEX devices_by_tenant ON devices (tenant, dev_eui);

CREATE TABLE quarantine (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at text NOT NULL,
    topic text NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    body bytea NOT NULL,
    dev_eui text,
    tenant text
);
CREATE INDEX quarantine_by_device ON quarantine (dev_eui, seq);

-- What each bridge (by MQTT client id) did since it started, for the administration API.
CREATE TABLE ingestion (
    bridge text PRIMARY KEY,
    started_at text NOT NULL,
    updated_at text NOT NULL,
    received bigint NOT NULL,
    stored bigint NOT NULL,
    duplicates bigint NOT NULL,
    quarantined bigint NOT NULL
);

-- (device, frame counter, uplink time in ms since the epoch) of every uplink applied.
CREATE TABLE frames (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    dev_eui text NOT NULL,
    f_cnt bigint NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (tenant, dev_eui, f_cnt, at)
);
CREATE INDEX frames_by_time ON frames (tenant, at);

ALTER TABLE frames ENABLE ROW LEVEL SECURITY;
ALTER TABLE frames FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON frames USING (tenant = current_setting('territoires.tenant', true));
