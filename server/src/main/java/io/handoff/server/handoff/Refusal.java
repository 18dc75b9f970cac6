package io.handoff.server.handoff;

import io.handoff.protocol.v1.ErrorCode;

/** Why a request is refused: the error code the device gets, and a message a person can act on. */
record Refusal(ErrorCode code, String message) {}
