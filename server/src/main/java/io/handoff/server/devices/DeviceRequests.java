package io.handoff.server.devices;

import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.session.Connection;
import io.handoff.server.transport.TokenBucket;

/**
 * One connection's device requests: ListDevices, RevokeDevice and RefreshToken (its {@link
 * TokenKeeper} answers them), VerifyUserCode and AnswerApproval (its {@link ApprovalPrompts}), each
 * a round trip to the store.
 *
 * <ul>
 *   <li><b>Rate.</b> Each takes a token of the connection's bucket when it arrives ({@link
 *       #admit}); without one it is refused RATE_LIMITED, retryable, the wait in the message.
 *   <li><b>In flight.</b> At most {@link ServerConfig#maxDeviceRequestsInFlight()} wait for their
 *       answers at once; beyond that a request is refused TOO_MANY_IN_FLIGHT, retryable. Its owner
 *       calls {@link #answered} once it has its answer.
 * </ul>
 *
 * A refused request costs no store call and no token check. Both refusals name the request. Made by
 * the connection's first device request: an idle connection carries none. Event loop only.
 */
final class DeviceRequests {
  private final Connection connection;
  private final ServerConfig config;
  private final ServerStats stats;
  private final TokenBucket bucket; // Null when the node sets no rate.
  private int inFlight;

  DeviceRequests(Connection connection, ServerConfig config, ServerStats stats) {
    this.connection = connection;
    this.config = config;
    this.stats = stats;
    double rate = config.deviceRequestRatePerSecond();
    this.bucket =
        rate > 0 ? new TokenBucket(rate, config.deviceRequestBurst(), connection.nanoTime()) : null;
  }

  /**
   * Lets request {@code id} (a {@code request}, as the protocol names it) go to the store, counting
   * it as in flight until {@link #answered}; otherwise answers it with the refusal and returns
   * false.
   */
  boolean admit(long id, String request) {
    if (bucket != null && !bucket.tryTake(connection.nanoTime())) {
      stats.deviceRequestsRateLimited.increment();
      double rate = config.deviceRequestRatePerSecond();
      refuse(
          id,
          ErrorCode.RATE_LIMITED,
          "more than "
              + ServerConfig.rate(rate)
              + " device requests (ListDevices, RevokeDevice, RefreshToken, VerifyUserCode,"
              + " AnswerApproval) a second on this connection; send this "
              + request
              + " again in "
              + bucket.millisToNextToken()
              + " ms");
      return false;
    }
    if (inFlight >= config.maxDeviceRequestsInFlight()) {
      stats.deviceRequestsOverInFlight.increment();
      refuse(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          inFlight
              + " device requests wait for their answers on this connection, the most it may"
              + " have; send this "
              + request
              + " again once one is answered");
      return false;
    }
    inFlight++;
    return true;
  }

  /** A request {@link #admit} let through has its answer (or will get none from the store). */
  void answered() {
    inFlight--;
  }

  /** The refusal goes out with the read that brought the request (no flush of its own). */
  private void refuse(long id, ErrorCode code, String message) {
    connection.error(
        id, Error.newBuilder().setCode(code).setMessage(message).setRetryable(true).build());
  }
}
