-- The installs taken out by 20261206000002, into the flow library's table (made by its own
-- migrations in between; store/db.rs runs them in that order).
INSERT INTO segment_installs
    (install_name, user_id, app_name, workspace, source, scope, created_at, used_at,
     token_sealed, token_expires_at, refused_reason, refused_at, disconnected_at)
SELECT install_name, user_id, app_name, workspace, source, scope, created_at, used_at,
       token_sealed, token_expires_at, refused_reason, refused_at, disconnected_at
FROM segment_installs_moving;
DROP TABLE segment_installs_moving;
