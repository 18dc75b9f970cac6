/**
 * The Redis engine for many nodes, on Lettuce: one Lua script per write (idempotency, expected
 * version, fields, history, TTLs, publish), one per read, pub/sub per user for fan-out, and scripts
 * that create and end offers (one accept wins) and change presence.
 */
package io.handoff.server.engine.redis;
