-- Marks a user as being erased by one erasure (ApprovalStore.beginErasure): while any mark holds,
-- approval_index.lua notes no request for a device session, and attempt_fail.lua counts no attempt
-- of one.
-- KEYS: 1 the user's erasure marks (er)
-- ARGV: 1 erasure id, 2 the longest a mark holds, ms
redis.call('HSET', KEYS[1], ARGV[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
