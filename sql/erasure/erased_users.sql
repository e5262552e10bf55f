-- Every user ever erased: a later run must not bring one back from the drop unless the source
-- still holds the user (contract section 6).
SELECT DISTINCT user_id::text FROM erasure_log;
