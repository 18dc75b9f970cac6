package io.handoff.server.devices;

import io.handoff.protocol.bus.v1.ApprovalEnded;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.ApprovalAnswered;
import io.handoff.protocol.v1.ApprovalKind;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalPrompt;
import io.handoff.protocol.v1.ApprovalPromptsSent;
import io.handoff.protocol.v1.ApprovalRequest;
import io.handoff.protocol.v1.ApprovalWithdrawn;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.devices.ApprovalStore.Request;
import io.handoff.server.session.Connection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * One connection's approval prompts and answers: pushes an {@code ApprovalPrompt} for each pending
 * new-device request of the user (after the Welcome, and as they come; then, if the device's Hello
 * said it holds prompts from before, an {@code ApprovalPromptsSent}), withdraws it when the request
 * ends anywhere (answered, or expired: a timer at its deadline), and answers {@code VerifyUserCode}
 * and {@code AnswerApproval}. A prompt is shown at most once and withdrawn at most once per
 * connection. Event loop only. Bounded: at most {@value #MAX_SHOWN} prompts at once and {@value
 * #MAX_ENDED} remembered ends; the requests go through the connection's rate and in-flight bound of
 * device requests ({@link DeviceRequests}).
 *
 * <p>Made on first use: by the device's first approval frame, the first approval signal of its user
 * once its resume started, or a request found pending at its Welcome ({@link #welcomed(
 * ApprovalPrompts, DeviceApprovals, Connection, Supplier, boolean, boolean)}). Most connections
 * never see one, and an idle connection then carries no prompts at all.
 *
 * <p>What is pending is read after the Welcome only when it may hold a request the connection was
 * not signalled since its resume's read (which counts the pending requests, {@link
 * io.handoff.server.engine.ResumeStore.Resumed#pendingApprovals}): the read found some, the broker
 * may have lost signals since, or a signal came before the Welcome, when it is not shown. A request
 * made after the read is signalled after it, and the session is subscribed before the read: its
 * signal comes before the Welcome (and makes the Welcome read) or after it (and shows its prompt).
 */
public final class ApprovalPrompts {
  static final int MAX_SHOWN = 64;
  static final int MAX_ENDED = 128;
  private static final ServerFrame SENT =
      ServerFrame.newBuilder()
          .setApprovalPromptsSent(ApprovalPromptsSent.getDefaultInstance())
          .build();

  private final DeviceApprovals approvals;
  private final ApprovalConnection conn;
  // Both made on first use: most connections never see a sign-in request, and an idle connection
  // should cost as little memory as it can.
  private Map<String, Future<?>> shown = Collections.emptyMap();
  // Requests known to have ended, so a late read or signal does not prompt for them again.
  // In the order they ended, oldest first, at most MAX_ENDED.
  private LinkedHashSet<String> ended;
  // Requests this connection's answers (not yet handled) name, each with how many: their signal
  // may come before the answer's reply. Made on first use.
  private Map<String, Integer> answering;
  private boolean live;
  // An approval signal came before the Welcome, not shown then: the Welcome reads what is pending.
  private boolean missed;

  /**
   * The prompts of one connection, reaching the device through {@code conn}; {@code tokens} is the
   * connection's token keeper (its principal). {@code approvals} may be null (a node without them):
   * requests are then refused.
   */
  public ApprovalPrompts(
      DeviceApprovals approvals, Connection conn, TokenKeeper tokens, boolean welcomed) {
    this(approvals, new ApprovalLink(conn, tokens), welcomed);
  }

  /** {@code welcomed}: made after the connection's Welcome went out, so prompts show at once. */
  ApprovalPrompts(DeviceApprovals approvals, ApprovalConnection conn, boolean welcomed) {
    this.approvals = approvals;
    this.conn = conn;
    this.live = welcomed;
  }

  /**
   * The Welcome went out. {@code made}: the connection's prompts if a frame or signal made them
   * before the Welcome, else null; {@code prompts} gives them, made on first use. {@code sent}: the
   * device's Hello said it holds prompts from before, so once the prompts for what waits went out
   * it is told so ({@code ApprovalPromptsSent}). {@code mayBePending}: the resume counted pending
   * requests (or could not count them), or the broker may have lost signals since its read. The
   * user's pending requests are read and prompted for if {@code mayBePending} or a signal came
   * before the Welcome; else none waits that no signal will bring. {@code approvals} may be null (a
   * node without them). Event loop.
   */
  public static void welcomed(
      ApprovalPrompts made,
      DeviceApprovals approvals,
      Connection conn,
      Supplier<ApprovalPrompts> prompts,
      boolean sent,
      boolean mayBePending) {
    if (made != null) {
      made.welcomed(sent, mayBePending);
    } else if (mayBePending) {
      read(approvals, conn, prompts, sent);
    } else if (sent && approvals != null) {
      conn.push(SENT);
      conn.flush();
    }
  }

  /**
   * The node may have missed approval signals (its subscription was lost) of a live connection:
   * re-reads what is pending ({@link #recheck} if {@code made}, the connection's prompts, else as
   * {@link #welcomed}). Returns the store's read (completed if there was none). Event loop.
   */
  public static CompletableFuture<?> reread(
      ApprovalPrompts made,
      DeviceApprovals approvals,
      Connection conn,
      Supplier<ApprovalPrompts> prompts) {
    return made != null ? made.recheck() : read(approvals, conn, prompts, false);
  }

  /**
   * Reads the user's pending requests for a connection that has no prompts yet, and asks {@code
   * prompts} for them (made then, after the Welcome) only if there is one; {@code sent} as for
   * {@link #welcomed}, false on a re-read. Returns the store's read (completed if there was none).
   */
  private static CompletableFuture<?> read(
      DeviceApprovals approvals, Connection conn, Supplier<ApprovalPrompts> prompts, boolean sent) {
    if (approvals == null) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<List<Request>> read = approvals.pending(conn.userId());
    conn.onLoop(
        read,
        (list, err) -> {
          if (list == null) {
            return; // Not known what waits: the device drops its held prompts at their deadlines.
          }
          if (!list.isEmpty()) {
            prompts.get().showAll(list, sent);
          } else if (sent) {
            conn.push(SENT);
            conn.flush();
          }
        });
    return read;
  }

  /** {@code VerifyUserCode} and {@code AnswerApproval}, as the session dispatches them. */
  public void onFrame(long id, ClientFrame frame) {
    switch (frame.getBodyCase()) {
      case VERIFY_USER_CODE -> onVerify(id, frame.getVerifyUserCode().getUserCode());
      case ANSWER_APPROVAL -> onAnswer(id, frame.getAnswerApproval());
      default -> conn.error(id, ErrorCode.BAD_REQUEST, "not a device-approval frame", false);
    }
  }

  /**
   * The Welcome went out: prompt for what is pending now (read unless neither {@code mayBePending}
   * nor a signal before the Welcome says some may be), then, if {@code sent} (the device holds
   * prompts from before), say that every one still waiting was sent.
   */
  private void welcomed(boolean sent, boolean mayBePending) {
    live = true;
    if (approvals == null) {
      return;
    }
    if (!mayBePending && !missed) {
      if (sent) {
        conn.push(SENT);
      }
      return;
    }
    missed = false;
    conn.onLoop(
        approvals.pending(conn.principal().userId()),
        (list, err) -> {
          if (list != null) {
            showAll(list, sent);
          }
        });
  }

  /**
   * The node may have missed approval signals (its subscription was lost): shows what is pending
   * now and was not shown, and withdraws a shown prompt whose request is no longer pending. How it
   * ended is not known then: its withdrawal's outcome is unspecified, with no device. Returns the
   * store's read (completed if there was none).
   */
  public CompletableFuture<?> recheck() {
    if (approvals == null || !live) {
      return CompletableFuture.completedFuture(null);
    }
    // Only prompts shown before the read can be judged by it: one a signal shows meanwhile may be
    // newer than the read.
    List<String> before = List.copyOf(shown.keySet());
    CompletableFuture<List<Request>> read = approvals.pending(conn.principal().userId());
    conn.onLoop(
        read,
        (list, err) -> {
          if (list == null || !live) {
            return;
          }
          Set<String> pending = new HashSet<>();
          for (Request r : list) {
            pending.add(r.id());
            show(toProto(r));
          }
          for (String id : before) {
            if (!pending.contains(id)) {
              withdraw(id, ApprovalOutcome.APPROVAL_OUTCOME_UNSPECIFIED, "");
            }
          }
        });
    return read;
  }

  /** The connection ended. */
  public void closed() {
    live = false;
    shown.values().forEach(f -> f.cancel(false));
    shown.clear();
  }

  /**
   * A signal of this user (numbers 11-19), on the event loop (the session hops). One before the
   * Welcome is not shown: the Welcome reads what is pending instead.
   */
  public void onSignal(UserSignal s) {
    if (!live) {
      missed = true;
      return;
    }
    switch (s.getBodyCase()) {
      case APPROVAL_PROMPTED -> show(s.getApprovalPrompted().getRequest());
      case APPROVAL_ENDED -> {
        ApprovalEnded e = s.getApprovalEnded();
        withdraw(e.getApprovalId(), e.getOutcome(), e.getByDevice());
      }
      default -> {}
    }
  }

  void onVerify(long id, String userCode) {
    if (approvals == null) {
      conn.error(id, ErrorCode.BAD_REQUEST, "device sign-in is not enabled on this node", false);
      return;
    }
    if (!conn.admit(id, "VerifyUserCode")) {
      return;
    }
    conn.onLoop(
        approvals.verify(conn.principal(), userCode, conn.address()),
        (Request r, Throwable err) -> {
          conn.answered();
          if (err != null) {
            failed(id, err);
            return;
          }
          conn.reply(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setApprovalPrompt(ApprovalPrompt.newBuilder().setRequest(toProto(r)))
                  .build());
        });
  }

  void onAnswer(long id, AnswerApproval a) {
    if (approvals == null) {
      conn.error(id, ErrorCode.BAD_REQUEST, "device sign-in is not enabled on this node", false);
      return;
    }
    if (!conn.admit(id, "AnswerApproval")) {
      return;
    }
    String approvalId = UserCodes.approvalId(a.getApprovalId());
    if (answering == null) {
      answering = new HashMap<>(4);
    }
    answering.merge(approvalId, 1, Integer::sum);
    conn.onLoop(
        approvals.answer(conn.principal(), a.getApprovalId(), a.getApprove(), conn.address()),
        (ApprovalOutcome o, Throwable err) -> {
          conn.answered();
          answering.computeIfPresent(approvalId, (k, n) -> n > 1 ? n - 1 : null);
          if (err != null) {
            failed(id, err);
            return;
          }
          forget(approvalId);
          conn.reply(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setApprovalAnswered(
                      ApprovalAnswered.newBuilder().setApprovalId(approvalId).setOutcome(o))
                  .build());
        });
  }

  /** Prompts for {@code r} unless it is shown, over or not for this device; false if full. */
  private boolean show(ApprovalRequest r) {
    String id = r.getApprovalId();
    long left = r.getExpiresMs() - approvals.clock().millis();
    if (!live
        || left <= 0
        || (ended != null && ended.contains(id))
        || shown.containsKey(id)
        || r.getDeviceId().equals(conn.principal().deviceId())) {
      return true;
    }
    if (shown.size() >= MAX_SHOWN) {
      return false;
    }
    if (shown.isEmpty()) {
      shown = new HashMap<>(4);
    }
    shown.put(
        id, conn.schedule(() -> withdraw(id, ApprovalOutcome.APPROVAL_EXPIRED, ""), left + 1));
    conn.push(
        ServerFrame.newBuilder()
            .setApprovalPrompt(ApprovalPrompt.newBuilder().setRequest(r))
            .build());
    return true;
  }

  /**
   * Prompts for each of {@code list}, read at the Welcome, then says so if {@code sent}: unless one
   * could not be shown (more than {@value #MAX_SHOWN}), as the device would then drop a prompt that
   * still waits.
   */
  private void showAll(List<Request> list, boolean sent) {
    boolean all = true;
    for (Request r : list) {
      all &= show(toProto(r));
    }
    if (sent && all) {
      conn.push(SENT);
    }
  }

  private void withdraw(String id, ApprovalOutcome outcome, String by) {
    if (by.equals(conn.principal().deviceId()) && answering != null && answering.containsKey(id)) {
      // This connection's own answer, whose signal can come before the answer's reply is handled:
      // it learns from its answer, never from a withdrawal. The same device's answer from
      // elsewhere (the HTTP API, another tab, its previous connection) is withdrawn as any other.
      forget(id);
      return;
    }
    remember(id);
    Future<?> timer = shown.remove(id);
    if (timer == null) {
      return;
    }
    timer.cancel(false);
    conn.push(
        ServerFrame.newBuilder()
            .setApprovalWithdrawn(
                ApprovalWithdrawn.newBuilder()
                    .setApprovalId(id)
                    .setOutcome(outcome)
                    .setByDevice(by))
            .build());
  }

  /** This device answered: its prompt goes without a withdrawal. */
  private void forget(String id) {
    remember(id);
    Future<?> timer = shown.remove(id);
    if (timer != null) {
      timer.cancel(false);
    }
  }

  private void remember(String id) {
    if (ended == null) {
      ended = new LinkedHashSet<>();
    }
    if (ended.add(id) && ended.size() > MAX_ENDED) {
      ended.remove(ended.iterator().next());
    }
  }

  private void failed(long id, Throwable err) {
    Throwable cause =
        err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
    if (!(cause instanceof ApiException a)) {
      conn.error(id, ErrorCode.UNAVAILABLE, "the store could not be reached; try again", true);
      return;
    }
    ErrorCode code =
        switch (a.error()) {
          case "unknown_code" -> ErrorCode.APPROVAL_NOT_FOUND;
          case "approval_ended" -> ErrorCode.APPROVAL_ENDED;
          case "too_many_attempts" -> ErrorCode.TOO_MANY_ATTEMPTS;
          case "invalid_token" -> ErrorCode.INVALID_TOKEN;
          case "unavailable" -> ErrorCode.UNAVAILABLE;
          default -> ErrorCode.BAD_REQUEST;
        };
    conn.error(id, code, a.getMessage(), code == ErrorCode.UNAVAILABLE);
  }

  /** The wire form of a request, as a person judging it sees it. */
  public static ApprovalRequest toProto(Request r) {
    boolean code = DeviceApprovals.KIND_CODE.equals(r.kind());
    return ApprovalRequest.newBuilder()
        .setApprovalId(r.id())
        .setKind(code ? ApprovalKind.DEVICE_CODE : ApprovalKind.NEW_DEVICE)
        .setUserCode(code ? UserCodes.display(r.id()) : "")
        .setDeviceId(r.deviceId())
        .setDeviceName(r.name())
        .setPlatform(r.platform())
        .setAddress(r.address())
        .setCreatedMs(r.createdMillis())
        .setExpiresMs(r.expiresMillis())
        .build();
  }
}
