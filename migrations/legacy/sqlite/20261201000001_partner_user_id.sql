-- The partner's own id for the user an account belongs to, when the login is the partner's
-- (web::login): accounts are found and made by it. NULL for the demo's cookie accounts.
ALTER TABLE accounts ADD COLUMN user_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS accounts_by_user ON accounts (user_id);
