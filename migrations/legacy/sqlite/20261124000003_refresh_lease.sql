-- Token refreshes take turns across every app instance on this database: the instance that
-- refreshes an install's token holds this lease (unix milliseconds) until it stores the new
-- token; the others wait and read that token instead of refreshing again.
ALTER TABLE installs ADD COLUMN refresh_lease_until INTEGER;
