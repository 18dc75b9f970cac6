-- Stores one device's current activity and renews the user's activities hash, in one step: a
-- node that dies after the call leaves no hash without its lifetime.
-- KEYS[1] the user's activities hash.
-- ARGV[1] device id, ARGV[2] the activity (protobuf), ARGV[3] the hash's lifetime in ms.
-- Returns the number of devices in the hash (the caller trims past its bound).
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HLEN', KEYS[1])
