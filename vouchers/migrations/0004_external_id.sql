-- vouchers: the reservation id a property-management system (PMS) gave a
-- stay, so that it can find the stay again (check-out, extension) without
-- keeping Keycard's ids. Unique where set: one stay per reservation, which
-- also stops a retried create from making a second stay. Partial unique
-- indexes are portable (SQLite 3.8+, PostgreSQL).
ALTER TABLE stays ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX stays_external_id ON stays (external_id) WHERE external_id IS NOT NULL;
