package io.handoff.server.devices;

import static io.handoff.server.devices.ApiSupport.failed;
import static io.handoff.server.devices.ApiSupport.orEmpty;
import static io.handoff.server.devices.ApiSupport.randomBytes;

import io.handoff.protocol.bus.v1.ApprovalEnded;
import io.handoff.protocol.bus.v1.ApprovalPrompted;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.server.auth.Principal;
import io.handoff.server.devices.ApprovalStore.Request;
import io.handoff.server.devices.ApprovalStore.State;
import io.handoff.server.engine.Engine;
import java.time.Clock;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Signing in a device that holds no session, approved by a trusted device of the same user.
 *
 * <ul>
 *   <li><b>Device codes</b> (RFC 8628): {@link #requestCode} hands the waiting device a device code
 *       (a secret it keeps) and a user code (for a person to type on a trusted device); the trusted
 *       device looks the user code up ({@link #verify}), which shows who asks and holds the code
 *       for that user, and answers ({@link #answer}); the waiting device polls ({@link #poll}) and
 *       gets a device session of the approving user, exactly once.
 *   <li><b>New-device approval</b> (opt-in): {@link #signIn} with an identity token, while the user
 *       has sessions on other devices (whatever this device id holds), is held: the user's devices
 *       are prompted ({@link ApprovalPrompts}), the first answer wins, and the new device polls
 *       with the device code it was given.
 * </ul>
 *
 * <p>Refusals are {@link ApiException}s with the RFC's error names where one applies. Wrong user
 * codes are counted per user and per address in the store (so across nodes); beyond the limits
 * every lookup and every answer by user code is refused for the rest of the window, right or wrong
 * (answers by a new-device approval id are not: it cannot be guessed). Thread-safe; every method
 * returns at once.
 */
public final class DeviceApprovals {
  public static final String DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
  static final String KIND_CODE = "device_code";
  static final String KIND_NEW_DEVICE = "new_device";
  private static final Logger log = LoggerFactory.getLogger(DeviceApprovals.class);
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final int CREATE_TRIES = 3;

  private final ApprovalConfig config;
  private final DeviceSessions sessions;
  private final Engine engine;
  private final ApprovalStore store;
  private final String nodeId;
  private final ApprovalMetrics metrics;
  private final Clock clock;
  private final CodeAttempts attempts;

  public DeviceApprovals(
      ApprovalConfig config,
      DeviceSessions sessions,
      Engine engine,
      String nodeId,
      ApprovalMetrics metrics,
      Clock clock) {
    this.config = config;
    this.sessions = sessions;
    this.engine = engine;
    this.store = engine.approvals();
    this.nodeId = nodeId;
    this.metrics = metrics;
    this.clock = clock;
    this.attempts = new CodeAttempts(config, sessions, store, metrics, clock);
  }

  public ApprovalConfig config() {
    return config;
  }

  public ApprovalMetrics metrics() {
    return metrics;
  }

  /** What the waiting device gets (RFC 8628 §3.2). */
  public record Authorization(
      String deviceCode,
      String userCode,
      String verificationUri,
      long expiresInSeconds,
      long intervalSeconds) {}

  /** A held sign-in: poll with {@code deviceCode}; {@code approversOnline} may be 0. */
  public record Held(
      String deviceCode,
      String approvalId,
      long expiresInSeconds,
      long intervalSeconds,
      int approversOnline) {}

  /** The outcome of {@link #signIn}: tokens at once, or a held sign-in. */
  public record SignIn(DeviceSessions.Tokens tokens, Held held) {}

  // ---------------------------------------------------------------------------------------------
  // The waiting device
  // ---------------------------------------------------------------------------------------------

  public CompletableFuture<Authorization> requestCode(
      String deviceId, String name, String platform, String address) {
    ApiException bad = SignInInput.checkDevice(deviceId, name, platform);
    if (bad != null) {
      return CompletableFuture.failedFuture(bad);
    }
    return createCode(deviceId, orEmpty(name), orEmpty(platform), address, 0);
  }

  private CompletableFuture<Authorization> createCode(
      String deviceId, String name, String platform, String address, int attempt) {
    long now = clock.millis();
    String code = UserCodes.next(ApiSupport.random());
    String secret = B64.encodeToString(randomBytes(32));
    Request r =
        new Request(
            code,
            KIND_CODE,
            "",
            deviceId,
            name,
            platform,
            address,
            now,
            now + config.codeTtl().toMillis(),
            config.pollInterval().toMillis(),
            sha256(secret),
            State.PENDING,
            "",
            0);
    return store
        .create(r, config.pendingBounds())
        .thenCompose(
            created ->
                switch (created) {
                  case CREATED -> {
                    metrics.requested.increment();
                    yield CompletableFuture.completedFuture(
                        new Authorization(
                            "dc1." + code + "." + secret,
                            UserCodes.display(code),
                            config.verificationUri(),
                            config.codeTtl().toSeconds(),
                            seconds(config.pollInterval().toMillis())));
                  }
                  case ID_TAKEN ->
                      attempt + 1 < CREATE_TRIES
                          ? createCode(deviceId, name, platform, address, attempt + 1)
                          : CompletableFuture.failedFuture(
                              new ApiException(
                                  503, "unavailable", "could not pick a free user code; retry"));
                  default -> CompletableFuture.failedFuture(refusal(created));
                });
  }

  /** Polls a device code (RFC 8628 §3.4-3.5): tokens once approved, else the RFC's error. */
  public CompletableFuture<DeviceSessions.Tokens> poll(String deviceCode) {
    String[] parts = SignInInput.parseDeviceCode(deviceCode);
    if (parts == null) {
      return failed(400, "invalid_grant", "malformed device code");
    }
    long now = clock.millis();
    return store
        .poll(parts[0], sha256(parts[1]), now)
        .thenCompose(
            p -> {
              Request r = p.request();
              if (p.firstSeenExpired()) {
                expired(r);
              }
              return switch (p.status()) {
                case APPROVED -> sessionFor(parts[0], sha256(parts[1]), r);
                // SETTLING: consumed by a poll whose session is being made, or whose answer was
                // lost (this device's again once the lease ends).
                case PENDING, SETTLING ->
                    failed(
                        400,
                        "authorization_pending",
                        "no session yet; poll again in " + seconds(r.intervalMillis()) + " s");
                case SLOW_DOWN ->
                    failed(
                        400,
                        "slow_down",
                        "polled sooner than the interval; poll every "
                            + seconds(r.intervalMillis())
                            + " s from now on");
                case DENIED ->
                    failed(
                        400, "access_denied", "the sign-in was denied on device " + r.byDevice());
                case EXPIRED ->
                    failed(
                        400,
                        "expired_token",
                        KIND_NEW_DEVICE.equals(r.kind())
                            ? "no trusted device approved the sign-in in time; sign in again and"
                                + " approve it on a signed-in device, or use a device code"
                            : "the device code expired; request a new one");
                case CONSUMED -> failed(400, "invalid_grant", "the device code was already used");
                default -> failed(400, "invalid_grant", "unknown device code");
              };
            });
  }

  /**
   * The session of an approved request a poll just consumed. If the session cannot be made (the
   * user's device limit, a store error), the approval is given back first, so the device polling
   * again gets it once the cause is gone, not "already used".
   */
  private CompletableFuture<DeviceSessions.Tokens> sessionFor(
      String id, String secretHash, Request r) {
    return sessions
        .createSession(r.userId(), r.deviceId(), r.name(), r.platform())
        .exceptionallyCompose(
            err -> {
              Throwable cause =
                  err instanceof CompletionException c && c.getCause() != null ? c.getCause() : err;
              return store
                  .unconsume(id, secretHash)
                  .handle((given, e) -> (DeviceSessions.Tokens) null)
                  .thenCompose(v -> CompletableFuture.failedFuture(cause));
            })
        .thenCompose(t -> unlessErased(id, secretHash, r, t));
  }

  /**
   * The session {@code tokens} a poll made from request {@code id}, settled in the store (no poll
   * consumes the request again), unless the user erased their state meanwhile: {@link Engine#erase}
   * removes requests before sessions, so a request still there (consumed) means the erase, if any,
   * has not reached the sessions yet and will take this one too; a request gone means it has, and
   * the session is taken back here.
   */
  private CompletableFuture<DeviceSessions.Tokens> unlessErased(
      String id, String secretHash, Request r, DeviceSessions.Tokens tokens) {
    return store
        .settle(id, secretHash)
        .thenCompose(
            settled -> {
              if (settled) {
                return CompletableFuture.completedFuture(tokens);
              }
              log.info(
                  "device {} of {} was approved, but the user erased their state before its"
                      + " session was made; the session is taken back",
                  r.deviceId(),
                  r.userId());
              return engine
                  .sessions()
                  .revoke(r.userId(), r.deviceId(), false)
                  .thenCompose(
                      revoked ->
                          failed(
                              400,
                              "invalid_grant",
                              "the user erased their account data after approving this sign-in;"
                                  + " request a new code"));
            });
  }

  /**
   * Signs in with an identity token; with new-device approval on, a sign-in while the user has
   * sessions on other devices is held for approval instead, whether or not this device id has one.
   */
  public CompletableFuture<SignIn> signIn(
      String identityToken, String deviceId, String name, String platform, String address) {
    ApiException bad = SignInInput.checkDevice(deviceId, name, platform);
    if (bad != null) {
      return CompletableFuture.failedFuture(bad);
    }
    String user;
    try {
      user = sessions.verifyIdentity(identityToken);
    } catch (ApiException e) {
      return CompletableFuture.failedFuture(e);
    }
    if (!config.newDeviceApproval()) {
      return sessions
          .createSession(user, deviceId, name, platform)
          .thenApply(t -> new SignIn(t, null));
    }
    return engine
        .sessions()
        .list(user)
        .thenCompose(
            list -> {
              // Held while another device could approve it, even for a device id the user has:
              // device ids are the app's, not secrets, and signing in again replaces that
              // device's session.
              // A hold taken back (no approver left once stored: erased, revoked) signs in at once;
              // one taken back because the user is being erased is refused, to be sent again.
              boolean approvers = list.stream().anyMatch(s -> !s.deviceId().equals(deviceId));
              return (approvers
                      ? hold(user, deviceId, orEmpty(name), orEmpty(platform), address)
                      : CompletableFuture.<Held>completedFuture(null))
                  .thenCompose(
                      h ->
                          h != null
                              ? CompletableFuture.completedFuture(new SignIn(null, h))
                              : sessions
                                  .createSession(user, deviceId, name, platform)
                                  .thenApply(t -> new SignIn(t, null)));
            });
  }

  private CompletableFuture<Held> hold(
      String user, String deviceId, String name, String platform, String address) {
    long now = clock.millis();
    String id = B64.encodeToString(randomBytes(16));
    String secret = B64.encodeToString(randomBytes(32));
    Request r =
        new Request(
            id,
            KIND_NEW_DEVICE,
            user,
            deviceId,
            name,
            platform,
            address,
            now,
            now + config.approvalTtl().toMillis(),
            config.pollInterval().toMillis(),
            sha256(secret),
            State.PENDING,
            "",
            0);
    return store
        .create(r, config.pendingBounds())
        .thenCompose(
            created -> {
              if (created != ApprovalStore.Created.CREATED) {
                return CompletableFuture.failedFuture(refusal(created));
              }
              return store.approvable(user, deviceId);
            })
        .thenCompose(
            approvable -> {
              if (approvable != ApprovalStore.Approvable.YES) {
                return store.withdraw(r).thenApply(v -> SignInInput.takenBack(approvable));
              }
              metrics.requested.increment();
              log.info(
                  "sign-in of new device {} ({}) of {} from {} waits for approval",
                  deviceId,
                  platform,
                  user,
                  address);
              signal(
                  user,
                  UserSignal.newBuilder()
                      .setApprovalPrompted(
                          ApprovalPrompted.newBuilder().setRequest(ApprovalPrompts.toProto(r))));
              return engine
                  .handoff()
                  .presence(user)
                  .handle(
                      (presence, err) -> {
                        int online = 0;
                        if (presence != null) {
                          online = (int) presence.stream().filter(d -> d.getOnline()).count();
                        }
                        return new Held(
                            "dc1." + id + "." + secret,
                            id,
                            config.approvalTtl().toSeconds(),
                            seconds(config.pollInterval().toMillis()),
                            online);
                      });
            });
  }

  // ---------------------------------------------------------------------------------------------
  // The trusted device
  // ---------------------------------------------------------------------------------------------

  /**
   * Looks up a user code for {@code p}'s user and holds it for that user; refused when the device's
   * session is not alive, after too many wrong codes, or when there is no such pending code.
   */
  public CompletableFuture<Request> verify(Principal p, String userCode, String address) {
    return attempts
        .allowed(p, address)
        .thenCompose(
            v -> {
              String id = UserCodes.normalise(userCode);
              CompletableFuture<Request> found =
                  id == null
                      ? CompletableFuture.completedFuture(null)
                      : store.claim(id, p.userId(), p.sessionId(), clock.millis());
              return found.thenCompose(
                  r -> {
                    if (r == null) {
                      return CodeAttempts.wrongCode();
                    }
                    attempts.forgive(p, address);
                    return CompletableFuture.completedFuture(r);
                  });
            });
  }

  /**
   * Approves or denies a request for {@code p}'s user: a user code (as typed or normalised) or a
   * new-device approval id. Completes with the outcome when this answer won. Only an answer by user
   * code (which can be guessed) counts against the wrong-code limits; one naming a new-device
   * approval id (128 random bits only the user's devices see) needs only a live session.
   */
  public CompletableFuture<ApprovalOutcome> answer(
      Principal p, String approvalId, boolean approve, String address) {
    boolean byUserCode = UserCodes.normalise(approvalId) != null;
    return (byUserCode ? attempts.allowed(p, address) : attempts.alive(p))
        .thenCompose(
            v -> {
              String id = UserCodes.approvalId(approvalId);
              if (id == null || id.isEmpty() || id.length() > 64) {
                return CodeAttempts.wrongCode();
              }
              long now = clock.millis();
              return store
                  .decide(id, p.userId(), p.deviceId(), p.sessionId(), approve, now)
                  .thenCompose(d -> decided(p, address, approve, byUserCode, d));
            });
  }

  private CompletableFuture<ApprovalOutcome> decided(
      Principal p, String address, boolean approve, boolean counted, ApprovalStore.Decision d) {
    Request r = d.request();
    if (counted && d.status() != ApprovalStore.Decision.Status.NOT_FOUND) {
      attempts.forgive(p, address); // the code was right, whatever became of its request
    }
    switch (d.status()) {
      case DECIDED -> {
        ApprovalOutcome outcome =
            r.state() == State.APPROVED
                ? ApprovalOutcome.APPROVAL_APPROVED
                : ApprovalOutcome.APPROVAL_DENIED;
        if (outcome == ApprovalOutcome.APPROVAL_APPROVED) {
          metrics.granted.increment();
          metrics.recordApproval(r.decidedMillis() - r.createdMillis());
        } else {
          metrics.denied.increment();
        }
        log.info(
            "sign-in of device {} for {} {} by device {}",
            r.deviceId(),
            p.userId(),
            outcome == ApprovalOutcome.APPROVAL_APPROVED ? "approved" : "denied",
            p.deviceId());
        ended(p.userId(), r.id(), outcome, p.deviceId());
        return CompletableFuture.completedFuture(outcome);
      }
      case ALREADY_DECIDED -> {
        String by = r.byDevice();
        if (by.equals(p.deviceId()) && approve == (r.state() != State.DENIED)) {
          // This device's own answer sent again, its reply (and maybe its signal) lost: the same
          // answer, and the others' prompts withdrawn again (a device withdraws a prompt once).
          ApprovalOutcome outcome =
              approve ? ApprovalOutcome.APPROVAL_APPROVED : ApprovalOutcome.APPROVAL_DENIED;
          ended(p.userId(), r.id(), outcome, by);
          return CompletableFuture.completedFuture(outcome);
        }
        return failed(
            409,
            "approval_ended",
            "the request was already "
                + (r.state() == State.DENIED ? "denied" : "approved")
                + (by.isEmpty() ? "" : " by device " + by));
      }
      case EXPIRED -> {
        if (d.firstSeenExpired()) {
          expired(r);
        }
        return failed(409, "approval_ended", "the request expired");
      }
      case SESSION_GONE -> {
        // Seen alive before the answer, gone (erased, revoked) before the answer could bind the
        // request: as if it had been gone at the check.
        return failed(
            401, "invalid_token", "the device session does not exist (expired or erased)");
      }
      default -> {
        return CodeAttempts.wrongCode();
      }
    }
  }

  /** The user's pending new-device requests (for prompts after a connect). */
  public CompletableFuture<List<Request>> pending(String userId) {
    return store.pending(userId, clock.millis());
  }

  public Clock clock() {
    return clock;
  }

  // ---------------------------------------------------------------------------------------------
  // Limits
  // ---------------------------------------------------------------------------------------------

  /** A request the store refused for one of its bounds, counted by bound: 429 for each. */
  private ApiException refusal(ApprovalStore.Created created) {
    switch (created) {
      case USER_LIMIT -> {
        metrics.refusedUser.increment();
        return tooManyPending("this user");
      }
      case FULL -> {
        // The store holds config.maxPendingTotal() requests, from any addresses.
        metrics.refusedFull.increment();
        return new ApiException(
            429,
            "too_many_pending",
            "too many sign-in requests are pending on this service; try again in a few minutes");
      }
      default -> {
        metrics.refusedAddress.increment();
        return tooManyPending("this address");
      }
    }
  }

  private static ApiException tooManyPending(String who) {
    return new ApiException(
        429,
        "too_many_pending",
        "too many sign-in requests are pending for " + who + "; finish or let one expire first");
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  private void expired(Request r) {
    metrics.expired.increment();
    if (!r.userId().isEmpty()) {
      ended(r.userId(), r.id(), ApprovalOutcome.APPROVAL_EXPIRED, "");
    }
  }

  private void ended(String user, String id, ApprovalOutcome outcome, String by) {
    signal(
        user,
        UserSignal.newBuilder()
            .setApprovalEnded(
                ApprovalEnded.newBuilder().setApprovalId(id).setOutcome(outcome).setByDevice(by)));
  }

  private void signal(String user, UserSignal.Builder s) {
    engine.broker().signal(user, s.setOriginNode(nodeId).build());
  }

  private static long seconds(long millis) {
    return Math.max(1, (millis + 999) / 1000);
  }

  private static String sha256(String s) {
    return HexFormat.of().formatHex(ApiSupport.sha256(s));
  }
}
