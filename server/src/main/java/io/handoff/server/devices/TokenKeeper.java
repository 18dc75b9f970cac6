package io.handoff.server.devices;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.DeviceList;
import io.handoff.protocol.v1.DevicesRevoked;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.TokenExpiring;
import io.handoff.protocol.v1.TokenRefreshed;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AuthException;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.devices.SessionStore.DeviceSession;
import io.handoff.server.session.SessionHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * One connection's token and device-session frames, next to its {@link SessionHandler}: sends
 * TokenExpiring {@code expiryNotice} before the access token expires and closes the connection with
 * TOKEN_EXPIRED at expiry unless a RefreshToken frame brought a valid token of the same user and
 * device first; answers ListDevices and RevokeDevice for the connection's own user only. Event loop
 * only; store answers hop back onto it.
 */
public final class TokenKeeper {
  private final SessionHandler session;
  private final ChannelHandlerContext ctx;
  private final TokenVerifier verifier;
  private final DeviceSessions sessions;
  private final ServerStats stats;
  private final Clock clock;
  private final long noticeMillis;
  private Principal principal;
  private ScheduledFuture<?> timer;
  private boolean refreshing;

  public TokenKeeper(
      SessionHandler session,
      ChannelHandlerContext ctx,
      Principal principal,
      TokenVerifier verifier,
      DeviceSessions sessions,
      ServerStats stats,
      Clock clock) {
    this.session = session;
    this.ctx = ctx;
    this.principal = principal;
    this.verifier = verifier;
    this.sessions = sessions;
    this.stats = stats;
    this.clock = clock;
    this.noticeMillis = sessions.noticeMillis();
  }

  public Principal principal() {
    return principal;
  }

  /** Arms the timers for the current token. */
  public void start() {
    cancel();
    long left = principal.expiresAtMillis() - clock.millis();
    // One timer at a time per connection: the notice, which then arms the expiry.
    timer =
        ctx.executor()
            .schedule(
                this::noticeThenExpiry, Math.max(0, left - noticeMillis), TimeUnit.MILLISECONDS);
  }

  private void noticeThenExpiry() {
    sendNotice();
    long left = principal.expiresAtMillis() - clock.millis();
    timer = ctx.executor().schedule(this::expire, Math.max(0, left), TimeUnit.MILLISECONDS);
  }

  public void stop() {
    cancel();
  }

  private void cancel() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  private void sendNotice() {
    ctx.writeAndFlush(
        ServerFrame.newBuilder()
            .setTokenExpiring(
                TokenExpiring.newBuilder().setExpiresAtMs(principal.expiresAtMillis()))
            .build());
  }

  private void expire() {
    stats.tokenExpiredCloses.increment();
    session.closeWith(CloseCode.TOKEN_EXPIRED, "access token expired; reconnect with a fresh one");
  }

  public void onRefreshToken(long id, String token) {
    if (refreshing) {
      error(id, ErrorCode.BAD_REQUEST, "a RefreshToken is being checked already", false);
      return;
    }
    Principal next;
    try {
      next = verifier.verify(token);
    } catch (AuthException e) {
      stats.authFailures.increment();
      error(id, ErrorCode.INVALID_TOKEN, e.getMessage(), false);
      return;
    }
    if (!next.userId().equals(principal.userId())
        || !next.deviceId().equals(principal.deviceId())) {
      stats.authFailures.increment();
      error(
          id,
          ErrorCode.INVALID_TOKEN,
          "the new token must name the same user and device as the connection",
          false);
      return;
    }
    refreshing = true;
    Principal checked = next;
    onLoop(
        sessions.check(next),
        (problem, err) -> {
          refreshing = false;
          if (err != null || problem != null) {
            stats.authFailures.increment();
            error(
                id,
                err != null ? ErrorCode.UNAVAILABLE : ErrorCode.INVALID_TOKEN,
                err != null ? "session store unavailable" : problem,
                err != null);
            return;
          }
          principal = checked;
          stats.inBandRefreshes.increment();
          start();
          ctx.writeAndFlush(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setTokenRefreshed(
                      TokenRefreshed.newBuilder().setExpiresAtMs(checked.expiresAtMillis()))
                  .build());
        });
  }

  public void onListDevices(long id) {
    onLoop(
        sessions.list(principal),
        (d, err) -> {
          if (err != null) {
            failed(id, err);
            return;
          }
          DeviceList.Builder b = DeviceList.newBuilder();
          for (DeviceSession s : d.devices()) {
            b.addDevices(
                DeviceInfo.newBuilder()
                    .setDeviceId(s.deviceId())
                    .setName(s.name())
                    .setPlatform(s.platform())
                    .setCreatedMs(s.createdMillis())
                    .setLastSeenMs(s.lastSeenMillis())
                    .setOnline(d.online(s))
                    .setCurrent(s.deviceId().equals(principal.deviceId())));
          }
          ctx.writeAndFlush(ServerFrame.newBuilder().setRequestId(id).setDeviceList(b).build());
        });
  }

  public void onRevokeDevice(long id, RevokeDevice r) {
    onLoop(
        sessions.revoke(principal, r.getDeviceId(), r.getAllOthers()),
        (revoked, err) -> {
          if (err != null) {
            failed(id, err);
            return;
          }
          if (revoked.isEmpty() && !r.getAllOthers()) {
            error(
                id,
                ErrorCode.UNKNOWN_DEVICE,
                "no device session for device " + r.getDeviceId(),
                false);
            return;
          }
          ctx.writeAndFlush(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setDevicesRevoked(DevicesRevoked.newBuilder().addAllDeviceIds(revoked))
                  .build());
        });
  }

  private void failed(long id, Throwable err) {
    Throwable cause =
        err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
    if (cause instanceof ApiException a && a.status() < 500) {
      error(id, ErrorCode.BAD_REQUEST, a.getMessage(), false);
    } else {
      error(id, ErrorCode.UNAVAILABLE, "session store unavailable; try again", true);
    }
  }

  private void error(long id, ErrorCode code, String message, boolean retryable) {
    ctx.writeAndFlush(
        ServerFrame.newBuilder()
            .setRequestId(id)
            .setError(Error.newBuilder().setCode(code).setMessage(message).setRetryable(retryable))
            .build());
  }

  private <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    f.whenComplete(
        (v, err) ->
            ctx.executor()
                .execute(
                    () -> {
                      if (ctx.channel().isActive()) {
                        action.accept(v, err);
                      }
                    }));
  }
}
