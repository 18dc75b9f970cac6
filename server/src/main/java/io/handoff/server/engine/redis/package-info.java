/**
 * The Redis engine for many nodes, on Lettuce: one Lua script per write (idempotency, expected
 * version, fields, history, TTLs, publish), one per read, and pub/sub per user for fan-out.
 */
package io.handoff.server.engine.redis;
