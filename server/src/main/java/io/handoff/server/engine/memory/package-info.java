/**
 * The embedded in-memory engine: one lock per user serialises that user's writes, so versions,
 * history and publication order come from one place. The default when no Redis is configured.
 */
package io.handoff.server.engine.memory;
