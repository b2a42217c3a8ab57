-- vouchers: verifiers are hashed with argon2id and a per-voucher random salt
-- (hex, 16 bytes) instead of one SHA-256, which a copy of the database
-- (a backup) gives up in about an hour per core.
ALTER TABLE vouchers ADD COLUMN verifier_salt TEXT NOT NULL DEFAULT '';

-- Vouchers issued before this migration are locked rather than kept on the
-- weak hash: their SHA-256 is erased (it can match no argon2id hash) and
-- failed_tries is set to 1000, the highest MaxFailedTries, so Redeem answers
-- "locked, ask the front desk". ReissueVoucher gives the stay a new code.
-- Devices already enrolled keep working. locked_at gets issued_at as the
-- migration has no clock.
UPDATE vouchers
   SET verifier_hash = '', failed_tries = 1000, locked_at = issued_at
 WHERE verifier_salt = '';
