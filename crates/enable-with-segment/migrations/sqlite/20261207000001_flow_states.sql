-- Flow states used at the callback, so that each works once across every instance (a saved
-- copy of a browser's flow cookie never finishes a second flow). Only the SHA-256 of a state is
-- kept, until its flow's end (unix milliseconds); later callbacks delete what has lapsed.
CREATE TABLE segment_flow_states (
    state_sha256 BLOB   PRIMARY KEY,
    kept_until   INTEGER NOT NULL
);
