package io.handoff.server.devices;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.DeviceList;
import io.handoff.protocol.v1.DevicesRevoked;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.TokenExpiring;
import io.handoff.protocol.v1.TokenRefreshed;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.AuthException;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.devices.SessionStore.DeviceSession;
import io.handoff.server.session.Connection;
import io.handoff.server.session.Deadline;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * One connection's device session and tokens: sends TokenExpiring {@code expiryNotice} before the
 * access token expires and closes the connection with TOKEN_EXPIRED at expiry unless a RefreshToken
 * frame brought a valid token of the same user and device first; answers ListDevices and
 * RevokeDevice for the connection's own user only; marks the device session connected while the
 * connection is live. Its RefreshToken, ListDevices and RevokeDevice, and the connection's
 * VerifyUserCode and AnswerApproval, go through one rate and in-flight bound ({@link
 * DeviceRequests}). Timers run on the node's scheduler. Event loop only; store answers hop back
 * onto it.
 */
public final class TokenKeeper extends Deadline {
  private final Connection connection;
  private final Node node;
  private Principal principal;
  // The principal this connection was recorded online as, if any.
  private Principal onlineAs;
  // Made by the connection's first device request.
  private DeviceRequests requests;
  // The armed deadline (this keeper is its own timer, one per connection for its whole life: see
  // Deadline) is the token's expiry once the notice went out, the notice before.
  private boolean noticeSent;
  private boolean refreshing;

  /** What every connection's token keeper of a node shares. */
  public record Node(TokenVerifier verifier, DeviceSessions sessions, ServerConfig config) {}

  public TokenKeeper(Connection connection, Principal principal, Node node) {
    this.connection = connection;
    this.principal = principal;
    this.node = node;
  }

  /** The connection's principal, as renewed on the socket. Event loop. */
  Principal principal() {
    return principal;
  }

  /** Whether the connection's access token, as renewed on the socket, is of {@code sessionId}. */
  public boolean onSession(String sessionId) {
    return principal.hasSession() && principal.sessionId().equals(sessionId);
  }

  /** The connection's device requests' bounds, made on first use. Event loop. */
  DeviceRequests requests() {
    if (requests == null) {
      requests = new DeviceRequests(connection, node.config(), node.sessions().stats());
    }
    return requests;
  }

  /** Arms the timers for the current token. */
  public void start() {
    long left = principal.expiresAtMillis() - connection.clock().millis();
    // One timer at a time per connection: the notice, which then arms the expiry.
    noticeSent = false;
    connection.arm(this, Math.max(0, left - node.sessions().noticeMillis()), TimeUnit.MILLISECONDS);
  }

  @Override
  protected void expired() {
    if (noticeSent) {
      expire();
      return;
    }
    noticeSent = true;
    long left = principal.expiresAtMillis() - connection.clock().millis();
    connection.arm(this, Math.max(0, left), TimeUnit.MILLISECONDS);
    sendNotice();
  }

  /** The device session the resume checks again once the subscription is live; empty if none. */
  public String sessionToCheck() {
    return principal.hasSession() ? principal.sessionId() : "";
  }

  /** The refresh inactivity past which that session is dead, for the resume's check. */
  public long sessionInactivityMillis() {
    return node.sessions().inactivityMillis();
  }

  /**
   * Why the resume must not go on, given the device session's {@code status} as the resume read it
   * (null when there was no session to check); null when it may.
   */
  public String sessionProblem(SessionStore.Status status) {
    return status == null ? null : node.sessions().problem(principal, status);
  }

  /**
   * Checks the device session again, after the node may have missed a signal (its subscription to
   * the user was down): a revocation or an erasure sent meanwhile would otherwise go unseen until
   * the access token expires. Closes the connection {@code SESSION_REVOKED} if the session is gone;
   * a store that does not answer leaves it as it is (the token's expiry still bounds it). Returns
   * the store's read, or a completed future if none was needed. Event loop.
   */
  public CompletableFuture<?> recheck() {
    Principal p = principal;
    if (!p.hasSession()) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<String> read = node.sessions().check(p);
    connection.onLoop(
        read,
        (problem, err) -> {
          if (err == null && problem != null && p == principal) {
            connection.close(CloseCode.SESSION_REVOKED, problem);
          }
        });
    return read;
  }

  /** Fills the Welcome's token part. */
  public void welcome(Welcome.Builder w) {
    w.setTokenExpiresAtMs(principal.expiresAtMillis()).setSessionId(principal.sessionId());
  }

  /** The Welcome went out: the device session counts as connected. */
  public void welcomed() {
    if (principal.hasSession()) {
      onlineAs = principal;
      node.sessions().seen(principal, true);
    }
  }

  /** The connection ended. */
  public void stop() {
    connection.disarm(this);
    if (onlineAs != null) {
      node.sessions().seen(onlineAs, false);
      onlineAs = null;
    }
  }

  private void sendNotice() {
    connection.push(
        ServerFrame.newBuilder()
            .setTokenExpiring(
                TokenExpiring.newBuilder().setExpiresAtMs(principal.expiresAtMillis()))
            .build());
    connection.flush();
  }

  private void expire() {
    node.sessions().stats().tokenExpiredCloses.increment();
    connection.close(CloseCode.TOKEN_EXPIRED, "access token expired; reconnect with a fresh one");
  }

  /** RefreshToken, ListDevices and RevokeDevice. */
  public void onFrame(long id, ClientFrame f) {
    switch (f.getBodyCase()) {
      case REFRESH_TOKEN -> onRefreshToken(id, f.getRefreshToken().getAccessToken());
      case LIST_DEVICES -> onListDevices(id);
      case REVOKE_DEVICE -> onRevokeDevice(id, f.getRevokeDevice());
      default -> throw new IllegalArgumentException("not a device frame: " + f.getBodyCase());
    }
  }

  private void onRefreshToken(long id, String token) {
    if (refreshing) {
      // A fine request that came too soon: retryable, as the other device requests' in-flight
      // refusal is, and counted with them. It costs no token check and no store call.
      node.sessions().stats().deviceRequestsOverInFlight.increment();
      error(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          "a RefreshToken of this connection is being checked already; send this one again once"
              + " that one is answered (TokenRefreshed or an error)",
          true);
      return;
    }
    if (!requests().admit(id, "RefreshToken")) {
      return;
    }
    Principal next;
    try {
      next = node.verifier().verify(token);
    } catch (AuthException e) {
      requests.answered();
      node.sessions().stats().authFailures.increment();
      error(id, ErrorCode.INVALID_TOKEN, e.getMessage(), false);
      return;
    }
    if (!next.userId().equals(principal.userId())
        || !next.deviceId().equals(principal.deviceId())) {
      requests.answered();
      node.sessions().stats().authFailures.increment();
      error(
          id,
          ErrorCode.INVALID_TOKEN,
          "the new token must name the same user and device as the connection",
          false);
      return;
    }
    refreshing = true;
    Principal checked = next;
    connection.onLoop(
        node.sessions().check(next),
        (problem, err) -> {
          refreshing = false;
          requests.answered();
          if (err != null || problem != null) {
            if (err == null) {
              // A token refused; a store that could not be asked refused none (as at the upgrade).
              node.sessions().stats().authFailures.increment();
            }
            error(
                id,
                err != null ? ErrorCode.UNAVAILABLE : ErrorCode.INVALID_TOKEN,
                err != null ? "session store unavailable" : problem,
                err != null);
            return;
          }
          principal = checked;
          start();
          connection.reply(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setTokenRefreshed(
                      TokenRefreshed.newBuilder().setExpiresAtMs(checked.expiresAtMillis()))
                  .build());
          connection.flush();
          // Last: the new token's timer is armed by then.
          node.sessions().stats().inBandRefreshes.increment();
        });
  }

  private void onListDevices(long id) {
    if (!requests().admit(id, "ListDevices")) {
      return;
    }
    connection.onLoop(
        node.sessions().list(principal),
        (d, err) -> {
          requests.answered();
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
          connection.reply(ServerFrame.newBuilder().setRequestId(id).setDeviceList(b).build());
          connection.flush();
        });
  }

  private void onRevokeDevice(long id, RevokeDevice r) {
    if (!requests().admit(id, "RevokeDevice")) {
      return;
    }
    connection.onLoop(
        node.sessions().revoke(principal, r.getDeviceId(), r.getAllOthers()),
        (revoked, err) -> {
          requests.answered();
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
          connection.reply(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setDevicesRevoked(DevicesRevoked.newBuilder().addAllDeviceIds(revoked))
                  .build());
          connection.flush();
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
    connection.error(id, code, message, retryable);
    connection.flush();
  }
}
