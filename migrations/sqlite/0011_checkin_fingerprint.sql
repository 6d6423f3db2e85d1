-- What a scan was (who scanned which code, entry or exit), hashed, so a
-- nonce replays only the scan it was made for: the same nonce with another
-- code is refused instead of answered with the first code's verdict. Null
-- on scans recorded before it existed, which then replay nothing.
ALTER TABLE ticket_checkins ADD COLUMN scan_hash TEXT;
