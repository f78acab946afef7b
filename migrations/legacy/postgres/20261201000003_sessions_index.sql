-- No query used this index (the clean-up's `last_seen_at <= … OR created_at <= …` scans the
-- table anyway), and every session write paid for it (issue 15).
DROP INDEX IF EXISTS sessions_by_last_seen;
