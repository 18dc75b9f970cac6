/**
 * A Handoff node: {@link io.handoff.server.Main} (command line), {@link
 * io.handoff.server.HandoffServer} (bootstrap) and its immutable {@link
 * io.handoff.server.ServerConfig}.
 */
package io.handoff.server;
