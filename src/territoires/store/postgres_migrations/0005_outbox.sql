-- The notification outbox (store/postgres_outbox.py). The subscription matcher writes its rows
-- in the transaction of the entity change, so a notification exists if and only if its change
-- does; delivery workers claim them with leases and settle them.
-- outbox and notification_status are tenant-scoped under the same FORCEd row-level security as
-- the entities.

CREATE TABLE outbox (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    seq bigint GENERATED ALWAYS AS IDENTITY,  -- delivery order of each subscription's queue
    id text NOT NULL,  -- urn:ngsi-ld:Notification:…, the same at every attempt
    subscription text NOT NULL,
    endpoint text NOT NULL,  -- scheme and authority, for spreading work by endpoint
    trigger text NOT NULL,
    data text NOT NULL,  -- JSON, never looked into by SQL
    created_at text NOT NULL,
    due double precision NOT NULL,  -- epoch seconds: first attempt, then each retry
    lease double precision NOT NULL DEFAULT 0,  -- claimed until (epoch seconds)
    owner text,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    dead boolean NOT NULL DEFAULT false,  -- given up after the last attempt, kept for people
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX outbox_queues ON outbox (tenant, subscription, seq) WHERE NOT dead;
CREATE INDEX outbox_dead ON outbox (tenant, subscription, seq) WHERE dead;

CREATE TABLE notification_status (
    tenant text NOT NULL DEFAULT current_setting('territoires.tenant', true),
    subscription text NOT NULL,
    times_sent bigint NOT NULL DEFAULT 0,
    times_failed bigint NOT NULL DEFAULT 0,
    last_notification text,
    last_success text,
    last_failure text,
    status text,
    enqueued double precision,  -- last throttled enqueue (epoch seconds)
    period double precision,  -- start of the current period of a timeInterval subscription
    PRIMARY KEY (tenant, subscription)
);

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON outbox USING (tenant = current_setting('territoires.tenant', true));
ALTER TABLE notification_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_status FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON notification_status USING (tenant = current_setting('territoires.tenant', true));

-- The tenants that may have notifications to deliver, and from when each is worth a look.
-- A worker must find work across tenants, and row-level security shows a transaction the
-- outbox of the tenant it named only: so each tenant's outbox is claimed in a transaction of
-- its own, and this small table says which tenants to visit. It holds tenant names only, which
-- the tenants table shows to every session anyway, hence no row-level security. The writer of
-- outbox rows upserts its tenant here in the same transaction (version + 1, due 0), so no
-- committed row is ever without its entry; a worker lowers or removes an entry only if its
-- version is still the one it read (a concurrent writer's row lock makes it wait and see).
CREATE TABLE outbox_tenants (
    tenant text PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    version bigint NOT NULL DEFAULT 0,
    due double precision NOT NULL DEFAULT 0
);
