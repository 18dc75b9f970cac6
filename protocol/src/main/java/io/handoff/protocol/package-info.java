/**
 * The Handoff wire protocol shared by the server and every client: the generated protobuf messages
 * in {@code io.handoff.protocol.v1} (schema in {@code src/main/proto/handoff/v1/handoff.proto}) and
 * the table of close codes, {@link io.handoff.protocol.CloseCode}. Request-level error codes are
 * the protobuf enum {@link io.handoff.protocol.v1.ErrorCode}.
 */
package io.handoff.protocol;
