-- NAS clients: where Disconnect-Request and CoA-Request go and how they are
-- built (RFC 5176). Every column has a default, so NAS clients added before
-- this migration keep working as they did: Disconnect to the address their
-- accounting comes from, on das_port, with the standard attributes, and no
-- CoA.
--
-- das_address: '' = the address the session's accounting came from; else a
--              controller's or AP's management address.
-- profile:     the DAS/policy profile (radiusd.Profiles()).
-- coa:         1 when the NAS accepts CoA-Request.
-- coa_port:    0 = the profile's choice (das_port for rfc5176).
ALTER TABLE nas ADD COLUMN das_address TEXT NOT NULL DEFAULT '';
ALTER TABLE nas ADD COLUMN profile TEXT NOT NULL DEFAULT 'rfc5176';
ALTER TABLE nas ADD COLUMN coa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nas ADD COLUMN coa_port INTEGER NOT NULL DEFAULT 0 CHECK (coa_port BETWEEN 0 AND 65535);
