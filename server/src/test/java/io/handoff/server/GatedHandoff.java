package io.handoff.server;

import io.handoff.server.handoff.HandoffStore;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A real handoff store with ends of offers (accept, decline, cancel), the presence keeper's calls,
 * reads of activities and activity publishes held on request.
 */
final class GatedHandoff implements HandoffStore {
  private final HandoffStore real;
  private final Gate ends;
  private final Gate keeps;
  private final Gate activityReads;
  private final Gate activityPuts;
  private final Signal changed;
  // Keeper calls answered so far (held or not).
  private final java.util.concurrent.atomic.AtomicInteger kept =
      new java.util.concurrent.atomic.AtomicInteger();

  GatedHandoff(HandoffStore real, Signal changed) {
    this.real = real;
    this.ends = new Gate(changed);
    this.keeps = new Gate(changed);
    this.activityReads = new Gate(changed);
    this.activityPuts = new Gate(changed);
    this.changed = changed;
  }

  /** Reads of a user's activities wait from now on, unsent, until released. */
  void holdActivityReads() {
    activityReads.hold(Integer.MAX_VALUE);
  }

  void releaseActivityReads() {
    activityReads.release();
  }

  int heldActivityReads() {
    return activityReads.held();
  }

  void holdActivityPuts(int n) {
    activityPuts.hold(n);
  }

  void releaseActivityPuts() {
    activityPuts.release();
  }

  int heldActivityPuts() {
    return activityPuts.held();
  }

  void holdKeeps(int n) {
    keeps.hold(n);
  }

  void releaseKeeps() {
    keeps.release();
  }

  int heldKeeps() {
    return keeps.held();
  }

  int keptCalls() {
    return kept.get();
  }

  void holdEnds(int n) {
    ends.hold(n);
  }

  void releaseEnds() {
    ends.release();
  }

  int heldEnds() {
    return ends.held();
  }

  private HandoffStore real() {
    return real;
  }

  @Override
  public java.time.Clock clock() {
    return real().clock();
  }

  @Override
  public CompletableFuture<Void> putActivity(
      String userId,
      io.handoff.protocol.v1.Activity activity,
      java.time.Duration retention,
      int maxDevices) {
    return activityPuts.pass(() -> real().putActivity(userId, activity, retention, maxDevices));
  }

  @Override
  public CompletableFuture<Void> clearActivity(String userId, String deviceId) {
    return real().clearActivity(userId, deviceId);
  }

  @Override
  public CompletableFuture<List<io.handoff.protocol.v1.Activity>> activities(String userId) {
    return activityReads.pass(() -> real().activities(userId));
  }

  @Override
  public CompletableFuture<Creation> createOffer(
      String userId, io.handoff.protocol.v1.Offer offer, int maxLive) {
    return real().createOffer(userId, offer, maxLive);
  }

  @Override
  public CompletableFuture<List<io.handoff.protocol.v1.Offer>> liveOffers(String userId) {
    return real().liveOffers(userId);
  }

  @Override
  public CompletableFuture<OfferEnd> endOffer(
      String userId, String offerId, String deviceId, io.handoff.protocol.v1.OfferOutcome outcome) {
    return ends.pass(() -> real().endOffer(userId, offerId, deviceId, outcome));
  }

  @Override
  public CompletableFuture<List<OfferEnd>> recentlyEnded(String userId) {
    return real().recentlyEnded(userId);
  }

  @Override
  public CompletableFuture<Void> online(
      String userId,
      String deviceId,
      long connection,
      long instance,
      java.time.Duration ttl,
      int maxDevices) {
    return real().online(userId, deviceId, connection, instance, ttl, maxDevices);
  }

  @Override
  public CompletableFuture<Boolean> offline(String userId, String deviceId, long connection) {
    return real().offline(userId, deviceId, connection);
  }

  @Override
  public CompletableFuture<java.util.OptionalLong> heldElsewhere(
      String userId, String deviceId, long connection) {
    return real().heldElsewhere(userId, deviceId, connection);
  }

  @Override
  public CompletableFuture<List<io.handoff.protocol.v1.DevicePresence>> presence(String userId) {
    return real().presence(userId);
  }

  @Override
  public CompletableFuture<List<io.handoff.protocol.v1.DevicePresence>> keep(
      String userId, List<Live> live, java.time.Duration ttl, int maxDevices) {
    return keeps
        .pass(() -> real().keep(userId, live, ttl, maxDevices))
        .whenComplete(
            (r, e) -> {
              kept.incrementAndGet();
              changed.fire();
            });
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    return real().erase(userId);
  }

  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return real().sweep(now);
  }
}
