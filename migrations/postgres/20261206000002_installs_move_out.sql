-- The installs move to the flow library's install store (enable_with_segment::sql::SqlStore,
-- its own table segment_installs, keyed by user_id, times in unix milliseconds). This takes
-- them out of the app's table, into a holding one, and drops the app's table; the library's
-- migrations then make its table, and 20261206000003 moves the installs in (store/db.rs runs
-- them in that order). The sealed tokens move as they are: the library seals them the same way,
-- with the same key.
CREATE TABLE segment_installs_moving AS
SELECT install_name,
       account_id::TEXT AS user_id,
       app_name, workspace, source, scope,
       (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT AS created_at,
       (EXTRACT(EPOCH FROM COALESCE(last_refreshed_at, created_at)) * 1000)::BIGINT AS used_at,
       token_sealed,
       (EXTRACT(EPOCH FROM token_expires_at) * 1000)::BIGINT AS token_expires_at,
       attention AS refused_reason,
       (EXTRACT(EPOCH FROM attention_at) * 1000)::BIGINT AS refused_at,
       (EXTRACT(EPOCH FROM disconnected_at) * 1000)::BIGINT AS disconnected_at
FROM segment_installs;
DROP TABLE segment_installs;
