-- Reads what a device at a position misses of one document, atomically (see read_position).
-- KEYS: 1 meta hash, 2 fields hash, 3 history list
-- ARGV: 1 the device's epoch (8 bytes, or empty for none), 2 the device's version, 3 the
--       fingerprint of the device's version (8 bytes, zeros when unknown)
-- include: part_read_position.lua
return read_position(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), ARGV[3])
