package io.handoff.server.devices;

import static io.handoff.server.devices.ApiSupport.failed;
import static io.handoff.server.devices.ApiSupport.orEmpty;
import static io.handoff.server.devices.ApiSupport.randomBytes;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.DeviceKick;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.AuthException;
import io.handoff.server.auth.IdentityVerifier;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenConfig;
import io.handoff.server.engine.Engine;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device-session service of one node: sign-in, refresh-token rotation with reuse detection (RFC
 * 9700: rotate on every use; a rotated-out token coming back revokes the whole session), device
 * list, revocation and erasure. State lives in the engine's {@link SessionStore}; live connections
 * of revoked devices are closed on every node through {@link io.handoff.server.sync.Broker#signal}
 * with a {@link DeviceKick}.
 *
 * <p>Refresh tokens are opaque to devices: {@code rt1.<user>.<session>.<secret>} (user base64url,
 * secret 256 random bits); the store keeps only their SHA-256. Anomalies (reuse of a rotated-out
 * token, use of a revoked session's token, a burst of sign-ins for one user) are logged at WARN and
 * counted in {@link ServerStats}. Thread-safe; every method returns at once.
 */
public final class DeviceSessions {
  private static final Logger log = LoggerFactory.getLogger(DeviceSessions.class);
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();
  private static final int MAX_REFRESH_TOKEN_CHARS = 1024;
  private static final int MAX_DEVICE_ID_CHARS = 256;
  private static final int MAX_NAME_CHARS = 128;
  private static final int MAX_PLATFORM_CHARS = 64;
  private static final int MAX_BURST_USERS = 10_000;

  private final TokenConfig config;
  private final IdentityVerifier identity;
  private final AccessTokens access;
  private final Engine engine;
  private final String nodeId;
  private final int maxDevices;
  private final ServerStats stats;
  private final Clock clock;
  private volatile io.handoff.server.devices.DeviceApprovals approvals;
  // Recent sign-in times per user, for burst detection on this node. Bounded by MAX_BURST_USERS;
  // times older than the burst window are dropped (a user with none left is forgotten) at most once
  // per window, and an erased user's at once. Each deque is changed only inside the map's compute.
  private final ConcurrentHashMap<String, ArrayDeque<Long>> signInTimes = new ConcurrentHashMap<>();
  private volatile long signInsPrunedAt;

  public DeviceSessions(
      TokenConfig config,
      IdentityVerifier identity,
      AccessTokens access,
      Engine engine,
      String nodeId,
      int maxDevices,
      ServerStats stats,
      Clock clock) {
    this.maxDevices = maxDevices;
    this.config = config;
    this.identity = identity;
    this.access = access;
    this.engine = engine;
    this.nodeId = nodeId;
    this.stats = stats;
    this.clock = clock;
  }

  /** What a sign-in or refresh hands the device. */
  public record Tokens(
      String userId,
      String deviceId,
      String sessionId,
      String accessToken,
      long accessExpiresAtMillis,
      String refreshToken) {}

  /** The user's device sessions and which of them asked. */
  /**
   * A user's device sessions, and which devices presence shows online: presence entries expire
   * unless their node refreshes them, so a device on a node that died reads offline within the
   * presence TTL (the session's own node mark would stay set until the device came back).
   */
  public record Devices(
      List<SessionStore.DeviceSession> devices,
      String currentDeviceId,
      java.util.Set<String> onlineDevices) {
    public boolean online(SessionStore.DeviceSession s) {
      return onlineDevices.contains(s.deviceId());
    }
  }

  public AccessTokens accessTokens() {
    return access;
  }

  /** The node's counters (the connections' token keepers count into them). */
  ServerStats stats() {
    return stats;
  }

  /** How long before expiry a connection is told to refresh its access token. */
  public long noticeMillis() {
    return config.expiryNotice().toMillis();
  }

  // ---------------------------------------------------------------------------------------------
  // Sign-in and refresh
  // ---------------------------------------------------------------------------------------------

  public CompletableFuture<Tokens> signIn(
      String identityToken, String deviceId, String name, String platform) {
    if (identity == null) {
      return failed(
          404, "sign_in_disabled", "sign-in is not configured on this node (no identity JWKS)");
    }
    if (deviceId == null || deviceId.isEmpty() || deviceId.length() > MAX_DEVICE_ID_CHARS) {
      return failed(
          400, "invalid_request", "device_id must be 1-" + MAX_DEVICE_ID_CHARS + " chars");
    }
    if (name != null && name.length() > MAX_NAME_CHARS) {
      return failed(
          400, "invalid_request", "device_name must be at most " + MAX_NAME_CHARS + " chars");
    }
    if (platform != null && platform.length() > MAX_PLATFORM_CHARS) {
      return failed(
          400, "invalid_request", "platform must be at most " + MAX_PLATFORM_CHARS + " chars");
    }
    String user;
    try {
      user = identity.verify(identityToken);
    } catch (AuthException e) {
      stats.signInsRefused.increment();
      return failed(401, "invalid_token", e.getMessage());
    }
    return createSession(user, deviceId, name, platform);
  }

  /**
   * The user of a valid identity token, for a sign-in that continues elsewhere (new-device
   * approval); throws {@link ApiException} as {@link #signIn} would refuse it.
   */
  public String verifyIdentity(String identityToken) {
    if (identity == null) {
      throw new ApiException(
          404, "sign_in_disabled", "sign-in is not configured on this node (no identity JWKS)");
    }
    try {
      return identity.verify(identityToken);
    } catch (AuthException e) {
      stats.signInsRefused.increment();
      throw new ApiException(401, "invalid_token", e.getMessage());
    }
  }

  /** Creates a device session of {@code user} (identity already established). */
  public CompletableFuture<Tokens> createSession(
      String user, String deviceId, String name, String platform) {
    noteSignIn(user);
    String sid = B64.encodeToString(randomBytes(16));
    String refresh = newRefreshToken(user, sid);
    return engine
        .sessions()
        .create(
            user,
            sid,
            deviceId,
            orEmpty(name),
            orEmpty(platform),
            hash(refresh),
            config.refreshInactivity().toMillis())
        .thenApply(
            created -> {
              if (created.limitReached()) {
                stats.signInsRefused.increment();
                throw new ApiException(
                    409,
                    "device_limit",
                    "user has "
                        + created.devices()
                        + " signed-in devices; the limit is "
                        + maxDevices
                        + ". Revoke one (DELETE /v1/devices/{id}) and sign in again");
              }
              stats.signIns.increment();
              if (created.replacedSessionId() != null) {
                log.info(
                    "device {} of {} signed in again; its old session is revoked", deviceId, user);
                stats.devicesRevoked.increment();
                kick(
                    user,
                    deviceId,
                    created.replacedSessionId(),
                    CloseCode.SESSION_REVOKED,
                    "the device signed in again; this device session was replaced");
              }
              AccessTokens.Issued at = access.mint(user, deviceId, sid);
              return new Tokens(user, deviceId, sid, at.token(), at.expiresAtMillis(), refresh);
            });
  }

  /** Device codes and new-device approval of this node, once attached; else null. */
  public io.handoff.server.devices.DeviceApprovals approvals() {
    return approvals;
  }

  /** Attaches the node's device approvals (set once at start-up). */
  public void attach(io.handoff.server.devices.DeviceApprovals approvals) {
    this.approvals = approvals;
  }

  /** Rotates a refresh token: a new access token and a new refresh token, the old one dies. */
  public CompletableFuture<Tokens> refresh(String refreshToken) {
    String[] parts = parseRefreshToken(refreshToken);
    if (parts == null) {
      stats.refreshesRefused.increment();
      return failed(400, "invalid_grant", "malformed refresh token");
    }
    String user = parts[0];
    String sid = parts[1];
    String next = newRefreshToken(user, sid);
    return engine
        .sessions()
        .rotate(
            user,
            sid,
            hash(refreshToken),
            hash(next),
            SealedSuccessor.seal(refreshToken, next),
            config.refreshInactivity().toMillis(),
            config.refreshReuseInterval().toMillis())
        .thenApply(
            r -> {
              switch (r.outcome()) {
                case RETRIED -> {
                  // A retry within the reuse interval: the same successor, a fresh access token.
                  String same = SealedSuccessor.open(refreshToken, r.sealedSuccessor());
                  if (same == null) {
                    throw refused("unknown refresh token");
                  }
                  stats.refreshRetries.increment();
                  AccessTokens.Issued at = access.mint(user, r.deviceId(), sid);
                  return new Tokens(
                      user, r.deviceId(), sid, at.token(), at.expiresAtMillis(), same);
                }
                case ROTATED -> {
                  stats.refreshes.increment();
                  AccessTokens.Issued at = access.mint(user, r.deviceId(), sid);
                  return new Tokens(
                      user, r.deviceId(), sid, at.token(), at.expiresAtMillis(), next);
                }
                case REUSED -> {
                  stats.anomalyRefreshTokenReuse.increment();
                  stats.devicesRevoked.increment();
                  log.warn(
                      "ANOMALY refresh_token_reuse: a rotated-out refresh token of device {} of user"
                          + " {} came back; its session {} is revoked",
                      r.deviceId(),
                      user,
                      sid);
                  kick(user, r.deviceId(), CloseCode.SESSION_REVOKED, "refresh token reused");
                  throw refused("refresh token was already used; the device session is revoked");
                }
                case REVOKED -> {
                  stats.anomalyRevokedTokenUse.increment();
                  log.warn(
                      "ANOMALY revoked_token_use: refresh token of revoked session {} (device {}"
                          + " of user {})",
                      sid,
                      r.deviceId(),
                      user);
                  throw refused("the device session was revoked; sign in again");
                }
                case EXPIRED ->
                    throw refused(
                        "refresh token unused for longer than "
                            + config.refreshInactivity()
                            + "; sign in again");
                default -> throw refused("unknown refresh token");
              }
            });
  }

  private ApiException refused(String message) {
    stats.refreshesRefused.increment();
    return new ApiException(400, "invalid_grant", message);
  }

  // ---------------------------------------------------------------------------------------------
  // Checks, devices, revocation, erasure
  // ---------------------------------------------------------------------------------------------

  /**
   * Completes with null when {@code p} may be used (a development token, or a live session of the
   * same user and device), else with the reason it may not.
   */
  public CompletableFuture<String> check(Principal p) {
    if (!p.hasSession()) {
      return CompletableFuture.completedFuture(null);
    }
    return engine
        .sessions()
        .status(p.userId(), p.sessionId(), inactivityMillis())
        .thenApply(st -> problem(p, st));
  }

  /** How long a refresh token may go unused before its session is dead. */
  public long inactivityMillis() {
    return config.refreshInactivity().toMillis();
  }

  /**
   * Why {@code p} may not connect given its session's {@code st}, or null when the session is alive
   * for its device. A revoked session's token in use is an anomaly, counted and logged.
   */
  public String problem(Principal p, SessionStore.Status st) {
    if (st.alive() && p.deviceId().equals(st.deviceId())) {
      return null;
    }
    if (st.revoked()) {
      stats.anomalyRevokedTokenUse.increment();
      log.warn(
          "ANOMALY revoked_token_use: access token of revoked session {} (device {} of"
              + " user {})",
          p.sessionId(),
          p.deviceId(),
          p.userId());
      return "the device session was revoked";
    }
    return "the device session does not exist (expired or erased)";
  }

  public CompletableFuture<Devices> list(Principal p) {
    return engine
        .sessions()
        .list(p.userId(), config.refreshInactivity().toMillis())
        .thenCombine(
            engine.handoff().presence(p.userId()),
            (l, presence) -> {
              java.util.Set<String> online = new java.util.HashSet<>();
              presence.forEach(
                  d -> {
                    if (d.getOnline()) {
                      online.add(d.getDeviceId());
                    }
                  });
              return new Devices(l, p.deviceId(), online);
            });
  }

  /**
   * Revokes the session of {@code deviceId} of {@code p}'s user, or of all its other devices, and
   * closes their connections on every node with SESSION_REVOKED.
   */
  public CompletableFuture<List<String>> revoke(Principal p, String deviceId, boolean allOthers) {
    String target = allOthers ? p.deviceId() : deviceId;
    if (target == null || target.isEmpty() || target.length() > MAX_DEVICE_ID_CHARS) {
      return failed(
          400, "invalid_request", "device id must be 1-" + MAX_DEVICE_ID_CHARS + " chars");
    }
    return engine
        .sessions()
        .revoke(p.userId(), target, allOthers)
        .thenApply(
            revoked -> {
              for (String d : revoked) {
                stats.devicesRevoked.increment();
                log.info("device {} of {} revoked by device {}", d, p.userId(), p.deviceId());
                kick(p.userId(), d, CloseCode.SESSION_REVOKED, "device session revoked");
              }
              return revoked;
            });
  }

  /**
   * Deletes everything of the user (documents, device sessions, activities, offers, presence) and
   * disconnects all its devices.
   */
  public CompletableFuture<Void> erase(Principal p) {
    String user = p.userId();
    return engine
        .erase(user)
        .thenApply(
            v -> {
              stats.usersErased.increment();
              signInTimes.remove(user);
              log.info("user {} erased all their state (asked by device {})", user, p.deviceId());
              kick(user, "", CloseCode.SESSION_REVOKED, "user erased all their state");
              return null;
            });
  }

  /** Records a live connection of a session's device on this node, or its end. */
  public void seen(Principal p, boolean connected) {
    if (p.hasSession()) {
      engine
          .sessions()
          .seen(p.userId(), p.sessionId(), nodeId, connected)
          .whenComplete(
              (v, err) -> {
                if (err != null) {
                  log.debug(
                      "cannot record device {} of {} as seen: {}",
                      p.deviceId(),
                      p.userId(),
                      err.toString());
                }
              });
    }
  }

  private void kick(String user, String deviceId, CloseCode code, String reason) {
    kick(user, deviceId, "", code, reason);
  }

  /** Closes {@code deviceId}'s connections on every node; only {@code sessionId}'s if not empty. */
  private void kick(String user, String deviceId, String sessionId, CloseCode code, String reason) {
    engine
        .broker()
        .signal(
            user,
            UserSignal.newBuilder()
                .setOriginNode(nodeId)
                .setKick(
                    DeviceKick.newBuilder()
                        .setDeviceId(deviceId)
                        .setSessionId(sessionId)
                        .setCloseCode(code.code())
                        .setReason(reason))
                .build());
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  private void noteSignIn(String user) {
    long now = clock.millis();
    long window = config.signInBurstWindow().toMillis();
    if (now - signInsPrunedAt >= window) {
      signInsPrunedAt = now;
      for (String u : signInTimes.keySet()) {
        signInTimes.computeIfPresent(u, (k, t) -> recent(t, now, window));
      }
    }
    if (signInTimes.size() > MAX_BURST_USERS) {
      signInTimes.clear();
    }
    boolean[] burst = {false};
    signInTimes.compute(
        user,
        (k, t) -> {
          ArrayDeque<Long> times = t == null ? new ArrayDeque<>() : t;
          times.addLast(now);
          if (recent(times, now, window) != null && times.size() > config.signInBurst()) {
            burst[0] = true;
            times.clear(); // One anomaly per burst, not one per sign-in.
          }
          return times.isEmpty() ? null : times;
        });
    if (burst[0]) {
      stats.anomalySignInBurst.increment();
      log.warn(
          "ANOMALY sign_in_burst: more than {} sign-ins for user {} within {}",
          config.signInBurst(),
          user,
          config.signInBurstWindow());
    }
  }

  /** {@code times} without those older than {@code window}; null if none is left. */
  private static ArrayDeque<Long> recent(ArrayDeque<Long> times, long now, long window) {
    while (!times.isEmpty() && now - times.peekFirst() > window) {
      times.removeFirst();
    }
    return times.isEmpty() ? null : times;
  }

  private String newRefreshToken(String user, String sid) {
    return "rt1."
        + B64.encodeToString(user.getBytes(StandardCharsets.UTF_8))
        + "."
        + sid
        + "."
        + B64.encodeToString(randomBytes(32));
  }

  /** {user, sessionId} of a well-formed refresh token, else null. */
  static String[] parseRefreshToken(String token) {
    if (token == null || token.length() > MAX_REFRESH_TOKEN_CHARS) {
      return null;
    }
    String[] parts = token.split("\\.", -1);
    if (parts.length != 4
        || !parts[0].equals("rt1")
        || parts[2].isEmpty()
        || parts[3].length() < 40) {
      return null;
    }
    try {
      String user = new String(B64D.decode(parts[1]), StandardCharsets.UTF_8);
      if (user.isEmpty()) {
        return null;
      }
      B64D.decode(parts[2]);
      return new String[] {user, parts[2]};
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  static byte[] hash(String token) {
    return ApiSupport.sha256(token);
  }
}
