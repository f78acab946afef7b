-- The installs move to the flow library's install store (enable_with_segment::sql::SqlStore,
-- its own table segment_installs, keyed by user_id, times in unix milliseconds). This takes
-- them out of the app's table, into a holding one, and drops the app's table; the library's
-- migrations then make its table, and 20261206000003 moves the installs in (store/db.rs runs
-- them in that order). The sealed tokens move as they are: the library seals them the same way,
-- with the same key.
CREATE TABLE segment_installs_moving AS
SELECT install_name,
       CAST(account_id AS TEXT) AS user_id,
       app_name, workspace, source, scope,
       CAST(ROUND((julianday(created_at) - 2440587.5) * 86400000) AS INTEGER) AS created_at,
       CAST(ROUND((julianday(COALESCE(last_refreshed_at, created_at)) - 2440587.5) * 86400000)
            AS INTEGER) AS used_at,
       token_sealed,
       CAST(ROUND((julianday(token_expires_at) - 2440587.5) * 86400000) AS INTEGER)
            AS token_expires_at,
       attention AS refused_reason,
       CAST(ROUND((julianday(attention_at) - 2440587.5) * 86400000) AS INTEGER) AS refused_at,
       CAST(ROUND((julianday(disconnected_at) - 2440587.5) * 86400000) AS INTEGER)
            AS disconnected_at
FROM segment_installs;
DROP TABLE segment_installs;
