package io.handoff.client;

import io.handoff.protocol.v1.AcceptOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.CancelOffer;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeclineOffer;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.OfferGranted;
import io.handoff.protocol.v1.OfferResult;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The requests behind {@link HandoffClient}'s activity, offer and device methods (documented
 * there): each checks its arguments, builds its frame, sends it with {@link SyncEngine#request} and
 * turns the answer into its result, failing with a {@link HandoffException} if the answer is not of
 * the kind the request expects. The state the answers change (offers waiting for their results,
 * prompts, activities) is {@link HandoffRequests}', which matches each answer to its request by id;
 * an offer made here is handed to it to wait for its result, and a prompt accepted or declined is
 * dropped from it once the server answered either way.
 *
 * <p>Holds nothing but its engine; every method may be called from any thread.
 */
final class HandoffCalls {
  /** How many times an offer is sent at most before its failure reaches the app. */
  static final int MAX_OFFER_SENDS = 5;

  /** How long an offer without a TTL of its own is sent again for. */
  static final long RESEND_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(30);

  private final SyncEngine engine;

  HandoffCalls(SyncEngine engine) {
    this.engine = engine;
  }

  CompletableFuture<Activity> publishActivity(Activity activity) {
    PublishActivity.Builder p = PublishActivity.newBuilder();
    if (activity != null) {
      p.setActivity(activity);
    }
    return engine
        .request(ClientFrame.newBuilder().setPublishActivity(p))
        .thenApply(f -> expect(f, f.hasActivityUpdate()).getActivityUpdate().getActivity());
  }

  OutgoingOffer offer(String targetDevice, Activity activity, Duration ttl) {
    if (activity == null) {
      throw new IllegalArgumentException("activity must not be null");
    }
    if (ttl != null && (ttl.isNegative() || ttl.toMillis() > Integer.MAX_VALUE)) {
      throw new IllegalArgumentException(
          "ttl must not be negative and at most 2,147,483,647 ms (about 24.8 days); zero asks for the node's default");
    }
    OfferActivity.Builder o =
        OfferActivity.newBuilder()
            .setTargetDevice(targetDevice == null ? "" : targetDevice)
            .setActivity(activity)
            .setTtlMs(ttl == null ? 0 : (int) ttl.toMillis())
            .setOfferKey(UUID.randomUUID().toString());
    OutgoingOffer out = new OutgoingOffer(this);
    long window = ttl == null || ttl.isZero() ? RESEND_WINDOW_NANOS : ttl.toNanos();
    send(o.build(), out, 1, System.nanoTime() + window);
    return out;
  }

  /**
   * Sends the offer; if its answer is lost (the connection ended, the server was unavailable) it is
   * sent again with its key, which the server answers with the same offer, so the app sees one
   * offer. Event loop only.
   */
  private void send(OfferActivity o, OutgoingOffer out, int attempt, long giveUpNanos) {
    // The callback is attached before the request is sent, so it runs on the event loop as the
    // OfferCreated is handled: attached later (from this thread), it could run after the
    // OfferResult had already arrived and found no offer to complete.
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    answer.whenComplete(
        (f, err) -> {
          if (err == null && !f.hasOfferCreated()) {
            err = HandoffException.local("unexpected answer " + f.getBodyCase(), null);
          }
          if (err != null) {
            if (sendAgain(err, attempt, giveUpNanos)) {
              Runnable again = () -> send(o, out, attempt + 1, giveUpNanos);
              if (((HandoffException) err).mayHaveBeenApplied()) {
                again.run(); // Its connection ended: waits for the next Welcome.
              } else {
                engine.handoff.later(
                    TimeUnit.MILLISECONDS.toNanos(250L * attempt),
                    again,
                    e -> {
                      out.created.completeExceptionally(e);
                      out.result.completeExceptionally(e);
                    });
              }
              return;
            }
            out.created.completeExceptionally(err);
            out.result.completeExceptionally(err);
            return;
          }
          Offer created = f.getOfferCreated().getOffer();
          engine.handoff.track(created, out);
          out.created.complete(created);
        });
    ClientFrame.Builder frame = ClientFrame.newBuilder().setOfferActivity(o);
    if (attempt == 1) {
      engine.request(frame, answer); // Made while disconnected: fails at once, as it always did.
    } else {
      engine.requestOnceConnected(frame, answer);
    }
  }

  /**
   * Whether an offer whose send failed with {@code err} is sent again: when it may have been made
   * (its connection ended before the answer) or the server asked for a retry, within its window.
   */
  private static boolean sendAgain(Throwable err, int attempt, long giveUpNanos) {
    if (!(err instanceof HandoffException h) || attempt >= MAX_OFFER_SENDS) {
      return false;
    }
    if (System.nanoTime() - giveUpNanos >= 0) {
      return false;
    }
    return h.mayHaveBeenApplied() || (h.errorCode() != null && h.retryable());
  }

  CompletableFuture<OfferGranted> accept(String offerId) {
    return answer(
            ClientFrame.newBuilder().setAcceptOffer(AcceptOffer.newBuilder().setOfferId(offerId)),
            offerId)
        .thenApply(f -> expect(f, f.hasOfferGranted()).getOfferGranted());
  }

  CompletableFuture<Void> decline(String offerId) {
    return answer(
            ClientFrame.newBuilder().setDeclineOffer(DeclineOffer.newBuilder().setOfferId(offerId)),
            offerId)
        .thenApply(f -> null);
  }

  CompletableFuture<OfferResult> cancel(String offerId) {
    return engine
        .request(
            ClientFrame.newBuilder().setCancelOffer(CancelOffer.newBuilder().setOfferId(offerId)))
        .thenApply(f -> expect(f, f.hasOfferResult()).getOfferResult());
  }

  /**
   * A request about a prompt; the prompt is dropped once the server answered it either way. The
   * client's own refusals (not connected, the connection ended first, too many requests waiting)
   * leave it shown, to be answered again: the server ended nothing.
   */
  private CompletableFuture<ServerFrame> answer(ClientFrame.Builder frame, String offerId) {
    if (offerId == null || offerId.isEmpty()) {
      throw new IllegalArgumentException("offerId must not be empty");
    }
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    CompletableFuture<ServerFrame> done =
        answer.whenComplete(
            (f, err) -> {
              if (err == null || (err instanceof HandoffException h && h.fromServer())) {
                engine.handoff.prompts.remove(offerId);
              }
            });
    engine.request(frame, answer);
    return done;
  }

  CompletableFuture<List<DeviceInfo>> devices() {
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    engine.request(
        ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()), answer);
    return answer.thenApply(f -> expect(f, f.hasDeviceList()).getDeviceList().getDevicesList());
  }

  CompletableFuture<List<String>> revokeDevice(String deviceId) {
    if (deviceId == null || deviceId.isEmpty()) {
      throw new IllegalArgumentException("deviceId must not be empty");
    }
    return revoke(RevokeDevice.newBuilder().setDeviceId(deviceId));
  }

  CompletableFuture<List<String>> revokeOtherDevices() {
    return revoke(RevokeDevice.newBuilder().setAllOthers(true));
  }

  private CompletableFuture<List<String>> revoke(RevokeDevice.Builder r) {
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    engine.request(ClientFrame.newBuilder().setRevokeDevice(r), answer);
    return answer.thenApply(
        f -> expect(f, f.hasDevicesRevoked()).getDevicesRevoked().getDeviceIdsList());
  }

  private static ServerFrame expect(ServerFrame f, boolean ok) {
    if (!ok) {
      throw HandoffException.local("unexpected answer " + f.getBodyCase(), null);
    }
    return f;
  }
}
