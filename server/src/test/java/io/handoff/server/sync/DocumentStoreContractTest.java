package io.handoff.server.sync;

import static io.handoff.server.Writes.set;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.Signal;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link DocumentStore} and {@link Broker} contract, written once and run against every engine.
 * Each test uses its own user id, so engines with shared backing state never mix tests.
 */
public abstract class DocumentStoreContractTest {
  protected static final StoreLimits LIMITS =
      StoreLimits.builder()
          .historyLength(5)
          .maxDocumentsPerUser(3)
          .maxFieldsPerDocument(4)
          .maxDocumentBytes(1024)
          .maxValueBytes(512)
          .seqWindow(8)
          .build();

  protected Engine engine;
  protected DocumentStore store;
  protected String user;
  protected final List<DocumentEvent> published = new CopyOnWriteArrayList<>();
  private final Signal delivered = new Signal();
  private Broker.Subscription subscription;

  /** A fresh engine with {@link #LIMITS}. */
  protected abstract Engine newEngine(StoreLimits limits) throws Exception;

  /**
   * The idle TTL passes (an engine that drops idle state by its clock moves that clock past it):
   * what was written before may be dropped as idle by {@link #dropIdleDocument}.
   */
  protected void idleTtlPasses() {}

  /**
   * {@code document}, idle since before {@link #idleTtlPasses}, goes as the engine drops an idle
   * document (its history with it) while the user writes on, and the user's devices' records of
   * their writes stay.
   */
  protected abstract void dropIdleDocument(String document) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(LIMITS);
    store = engine.store();
    user = "user-" + UUID.randomUUID();
    subscription =
        engine
            .broker()
            .subscribe(
                user,
                e -> {
                  published.add(e);
                  delivered.fire();
                });
    subscription.ready().get(10, java.util.concurrent.TimeUnit.SECONDS);
  }

  @AfterEach
  void tearDown() {
    subscription.close();
    engine.close();
  }

  /** Waits until the broker delivered {@code n} events (network brokers deliver asynchronously). */
  protected void awaitPublished(int n) throws InterruptedException {
    delivered.await(n + " events delivered", () -> published.size() >= n);
    assertEquals(n, published.size(), "events delivered");
  }

  protected WriteOutcome write(String device, Write w) {
    return store.write(user, device, w).join();
  }

  @Test
  void writesGetConsecutiveVersionsInOneEpoch() {
    WriteOutcome a = write("d1", set("doc", 1, "f", "a"));
    WriteOutcome b = write("d2", set("doc", 1, "f", "b"));
    assertTrue(a.isApplied());
    assertEquals(1, a.version());
    assertEquals(2, b.version());
    assertEquals(a.epoch(), b.epoch());
    assertNotEquals(0, a.epoch());
  }

  @Test
  void everyAppliedWriteIsPublishedInVersionOrder() throws Exception {
    for (int i = 1; i <= 10; i++) {
      write("d1", set("doc", i, "f", "v" + i));
    }
    awaitPublished(10);
    for (int i = 0; i < 10; i++) {
      assertEquals(i + 1, published.get(i).version());
      assertEquals("d1", published.get(i).originDevice());
      assertEquals(i + 1, published.get(i).originSeq());
    }
  }

  @Test
  void retriedWriteIsAppliedOnce() throws Exception {
    WriteOutcome first = write("d1", set("doc", 1, "f", "a"));
    WriteOutcome again = write("d1", set("doc", 1, "f", "a"));
    assertTrue(again.duplicate());
    assertEquals(first.version(), again.version());
    write("d1", set("doc", 2, "f", "b"));
    awaitPublished(2);
    assertEquals(List.of(1L, 2L), published.stream().map(DocumentEvent::version).toList());
    assertEquals(2L, store.lastClientSeq(user, "d1").join());
    assertEquals(0L, store.lastClientSeq(user, "d2").join());
  }

  /**
   * Promise 2 whatever the number of devices: a device's record of its writes stays while it could
   * be retried (until it idles out), however many other devices of the user write meanwhile (more
   * than {@code maxDevicesPerUser}: development tokens and browsers that clear their storage name
   * any number of device ids).
   */
  @Test
  void aRetryIsAppliedOnceAfterMoreDevicesThanMaxDevicesWrote() throws Exception {
    WriteOutcome first = write("d0", set("doc", 1, "f", "d0"));
    int others = LIMITS.maxDevicesPerUser();
    for (int i = 1; i <= others; i++) {
      assertTrue(write("d" + i, set("doc", 1, "f", "d" + i)).isApplied(), "device " + i);
    }
    WriteOutcome again = write("d0", set("doc", 1, "f", "d0"));
    assertTrue(again.isApplied(), again.toString());
    assertTrue(again.duplicate(), "a re-send, not a new write: " + again);
    assertEquals(first.version(), again.version());
    assertEquals(1L, store.lastClientSeq(user, "d0").join());
    assertEquals(others + 1L, store.read(user, "doc", 0, 0).join().toVersion(), "applied once");
  }

  @Test
  void sameSequenceFromAnotherDeviceIsANewWrite() {
    write("d1", set("doc", 1, "f", "a"));
    assertEquals(2, write("d2", set("doc", 1, "f", "b")).version());
  }

  @Test
  void sequenceOlderThanTheWindowIsStale() throws Exception {
    for (int i = 1; i <= 20; i++) {
      write("d1", set("doc", i, "f", "v"));
    }
    WriteOutcome old = write("d1", set("doc", 2, "f", "v"));
    assertEquals(ErrorCode.STALE_SEQUENCE, old.error());
    assertEquals(20, store.read(user, "doc", 0, 0).join().toVersion());
  }

  /**
   * A number below the window that was never used is refused STALE_SEQUENCE like one that was: the
   * store cannot tell them apart, so the message claims neither (protocol.md section 3).
   */
  @Test
  void aStaleNumberNeverUsedIsNotSaidToHaveBeenHandled() {
    for (int i = 3; i <= 20; i++) {
      write("d1", set("doc", i, "f", "v"));
    }
    WriteOutcome never = write("d1", set("doc", 2, "f", "v"));
    assertEquals(ErrorCode.STALE_SEQUENCE, never.error());
    assertFalse(never.message().contains("handled"), never.message());
    assertTrue(never.message().contains("cannot tell"), never.message());
  }

  /**
   * Honest outcomes: a refusal the store made with no record of the device's writes (a device new
   * to it, or whose record expired) covers that send only, since an earlier send of the same number
   * may have been applied before the record went, and says so; a refusal made with the device's
   * record, and the refusal answered again from the record to a re-send, do not.
   */
  @Test
  void aRefusalMadeWithoutARecordOfTheDevicesWritesSaysSo() {
    write("d1", set("doc", 1, "f", "a"));
    Write stale = set("doc", 1, "f", "b").toBuilder().setExpectedVersion(7).build();
    WriteOutcome first = write("d2", stale);
    assertEquals(ErrorCode.CONFLICT, first.error());
    assertTrue(first.noWriteRecord(), "d2 had no record of its writes: " + first);

    WriteOutcome again = write("d2", stale);
    assertEquals(ErrorCode.CONFLICT, again.error());
    assertFalse(again.noWriteRecord(), "answered from the record made by the first: " + again);
    WriteOutcome next =
        write("d2", set("doc", 2, "f", "b").toBuilder().setExpectedVersion(7).build());
    assertEquals(ErrorCode.CONFLICT, next.error());
    assertFalse(next.noWriteRecord(), "d2 has a record now: " + next);
    assertFalse(write("d1", stale.toBuilder().setClientSeq(2).build()).noWriteRecord());
  }

  @Test
  void sequenceSkippedInsideTheWindowIsStillAppliedToAnotherDocument() {
    write("d1", set("doc", 1, "f", "a"));
    write("d1", set("doc", 3, "f", "c"));
    WriteOutcome late = write("d1", set("other", 2, "f", "b"));
    assertTrue(late.isApplied());
    assertFalse(late.duplicate());
    assertEquals(1, late.version());
  }

  @Test
  void staleExpectedVersionIsAConflictThatChangesNothing() throws Exception {
    write("d1", set("doc", 1, "f", "a"));
    write("d1", set("doc", 2, "f", "b"));
    Write stale = set("doc", 3, "f", "c").toBuilder().setExpectedVersion(1).build();
    WriteOutcome out = write("d1", stale);
    assertEquals(ErrorCode.CONFLICT, out.error());
    assertEquals(2, out.version());
    assertTrue(out.message().contains("expected version 1"), out.message());
    SyncResult s = store.read(user, "doc", 0, 0).join();
    assertEquals(2, s.toVersion());
    assertEquals("b", s.fields().get("f").toStringUtf8());
    Write create = set("new", 4, "f", "x").toBuilder().setExpectedVersion(0).build();
    assertTrue(write("d1", create).isApplied(), "expected version 0 creates");
  }

  @Test
  void readFromAPositionGivesOnlyTheLaterDeltas() {
    long epoch = write("d1", set("doc", 1, "f", "1")).epoch();
    for (int i = 2; i <= 4; i++) {
      write("d1", set("doc", i, "f", Integer.toString(i)));
    }
    SyncResult r = store.read(user, "doc", epoch, 2).join();
    assertEquals(DocumentSync.Mode.DELTAS, r.mode());
    assertEquals(List.of(3L, 4L), r.deltas().stream().map(DocumentEvent::version).toList());
    assertEquals(DocumentSync.Mode.UP_TO_DATE, store.read(user, "doc", epoch, 4).join().mode());
  }

  @Test
  void readBeyondHistoryOrFromAnotherEpochGivesASnapshot() {
    long epoch = write("d1", set("doc", 1, "a", "1")).epoch();
    for (int i = 2; i <= 10; i++) {
      write("d1", set("doc", i, "b", Integer.toString(i)));
    }
    SyncResult old = store.read(user, "doc", epoch, 1).join();
    assertEquals(DocumentSync.Mode.SNAPSHOT, old.mode());
    assertEquals(10, old.toVersion());
    assertEquals("1", old.fields().get("a").toStringUtf8());
    assertEquals("10", old.fields().get("b").toStringUtf8());
    assertEquals(DocumentSync.Mode.SNAPSHOT, store.read(user, "doc", epoch + 1, 9).join().mode());
    assertEquals(DocumentSync.Mode.DELTAS, store.read(user, "doc", epoch, 5).join().mode());
    assertEquals(DocumentSync.Mode.GONE, store.read(user, "missing", epoch, 5).join().mode());
  }

  @Test
  void everyVersionCarriesAFingerprintChainedFromThePreviousOne() throws Exception {
    WriteOutcome a = write("d1", set("doc", 1, "f", "a"));
    WriteOutcome b = write("d1", set("doc", 2, "f", "b"));
    awaitPublished(2);
    Delta first = published.get(0).delta();
    Delta second = published.get(1).delta();
    assertEquals(Fingerprint.UNKNOWN, first.getPreviousFingerprint());
    assertEquals(first.getFingerprint(), second.getPreviousFingerprint());
    // Computed by the store in its atomic write (a Lua script on Redis), the same function as here.
    assertEquals(Fingerprint.next(0, Fingerprint.body(first)), first.getFingerprint());
    assertEquals(
        Fingerprint.next(first.getFingerprint(), Fingerprint.body(second)),
        second.getFingerprint());
    assertEquals(first.getFingerprint(), a.fingerprint());
    assertEquals(second.getFingerprint(), b.fingerprint());
    assertEquals(b.fingerprint(), write("d1", set("doc", 2, "f", "b")).fingerprint(), "dup");
    assertEquals(b.fingerprint(), store.read(user, "doc", 0, 0).join().fingerprint());
  }

  @Test
  void fingerprintsAreTheJavaFunctionsForBytesOfEveryKindAndFullWindows() throws Exception {
    // 40 versions (more than the history length and the seq window, so both are trimmed): their
    // 320 fingerprint bytes hold bytes below 0x10 (a leading zero hex digit) and bytes with the
    // hex digits a-f, all but certainly, and the test checks that they did.
    int n = 40;
    List<WriteOutcome> outcomes = new java.util.ArrayList<>();
    for (int i = 1; i <= n; i++) {
      outcomes.add(write("d1", set("doc", i, "f", "v" + i)));
    }
    awaitPublished(n);
    long previous = Fingerprint.UNKNOWN;
    boolean lowByte = false;
    boolean letterDigit = false;
    for (int i = 0; i < n; i++) {
      Delta d = published.get(i).delta();
      assertEquals(previous, d.getPreviousFingerprint(), "version " + (i + 1));
      assertEquals(Fingerprint.next(previous, Fingerprint.body(d)), d.getFingerprint());
      assertEquals(d.getFingerprint(), outcomes.get(i).fingerprint());
      for (int b = 0; b < 8; b++) {
        int x = (int) (d.getFingerprint() >>> (8 * b)) & 0xff;
        lowByte |= x < 0x10;
        letterDigit |= (x >> 4) >= 10 || (x & 15) >= 10;
      }
      previous = d.getFingerprint();
    }
    assertTrue(lowByte && letterDigit, "fingerprints covered bytes below 0x10 and digits a-f");
    assertEquals(previous, store.read(user, "doc", 0, 0).join().fingerprint());
  }

  @Test
  void positionOnAnotherHistoryOfTheSameEpochGetsASnapshotSayingItDiverged() {
    WriteOutcome one = write("d1", set("doc", 1, "f", "1"));
    WriteOutcome two = write("d1", set("doc", 2, "f", "2"));
    write("d1", set("doc", 3, "f", "3"));
    long epoch = one.epoch();
    long other = one.fingerprint() ^ 0x5A5A;
    SyncResult same = store.read(user, "doc", epoch, 3, other).join();
    assertEquals(DocumentSync.Mode.SNAPSHOT, same.mode());
    assertEquals(DocumentSync.Reason.DIVERGED, same.reason());
    assertEquals("3", same.fields().get("f").toStringUtf8());
    SyncResult older = store.read(user, "doc", epoch, 1, other).join();
    assertEquals(DocumentSync.Reason.DIVERGED, older.reason());
    assertEquals(3, older.toVersion());
    SyncResult ahead = store.read(user, "doc", epoch, 7, 0).join();
    assertEquals(DocumentSync.Reason.DIVERGED, ahead.reason());
    // Positions beyond 2^53 and 2^63 (unsigned on the wire) are beyond the document too.
    for (long far : new long[] {(1L << 53) + 1, Long.MIN_VALUE, -1L}) {
      SyncResult beyond = store.read(user, "doc", epoch, far, 0).join();
      assertEquals(DocumentSync.Mode.SNAPSHOT, beyond.mode(), Long.toUnsignedString(far));
      assertEquals(DocumentSync.Reason.DIVERGED, beyond.reason(), Long.toUnsignedString(far));
    }
    // The right fingerprint, or none (an old client), resumes as always.
    assertEquals(
        DocumentSync.Mode.DELTAS,
        store.read(user, "doc", epoch, 2, two.fingerprint()).join().mode());
    assertEquals(DocumentSync.Mode.DELTAS, store.read(user, "doc", epoch, 1, 0).join().mode());
    assertEquals(
        DocumentSync.Reason.EPOCH_CHANGED, store.read(user, "doc", epoch + 1, 3).join().reason());
    assertEquals(DocumentSync.Reason.NO_POSITION, store.read(user, "doc", 0, 0).join().reason());
  }

  @Test
  void removeDeletesAField() {
    write("d1", set("doc", 1, "a", "1"));
    Write rm =
        Write.newBuilder()
            .setDocument("doc")
            .setClientSeq(2)
            .addOps(FieldOp.newBuilder().setField("a").setRemove(true))
            .addOps(FieldOp.newBuilder().setField("b").setSet(ByteString.copyFromUtf8("2")))
            .build();
    assertEquals(2, write("d1", rm).version());
    SyncResult s = store.read(user, "doc", 0, 0).join();
    assertEquals(java.util.Map.of("b", ByteString.copyFromUtf8("2")), s.fields());
  }

  @Test
  void limitsAreEnforcedAndNamed() {
    for (int i = 1; i <= 3; i++) {
      assertTrue(write("d1", set("doc" + i, i, "f", "v")).isApplied());
    }
    WriteOutcome tooManyDocs = write("d1", set("doc4", 4, "f", "v"));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, tooManyDocs.error());
    assertTrue(tooManyDocs.message().contains("limit is 3"), tooManyDocs.message());
    for (int i = 0; i < 3; i++) {
      write("d1", set("doc1", 10 + i, "g" + i, "v"));
    }
    WriteOutcome tooManyFields = write("d1", set("doc1", 20, "g9", "v"));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, tooManyFields.error());
    WriteOutcome big = write("d1", set("doc2", 21, "h", "x".repeat(500)));
    assertTrue(big.isApplied());
    assertTrue(write("d1", set("doc2", 22, "i", "x".repeat(500))).isApplied());
    WriteOutcome over = write("d1", set("doc2", 23, "j", "x".repeat(500)));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, over.error());
    assertTrue(over.message().contains("bytes"), over.message());
  }

  @Test
  void syncCoversFollowedDocumentsAndPositionsOfMissingOnes() {
    long epoch = write("d1", set("ui/a", 1, "f", "1")).epoch();
    write("d1", set("ui/b", 2, "f", "1"));
    write("d1", set("cart", 3, "f", "1"));
    FollowFilter ui = FollowFilter.of(FollowSpec.newBuilder().addPrefixes("ui/").build());
    List<SyncResult> results =
        store
            .sync(
                user,
                ui,
                List.of(
                    Position.newBuilder().setDocument("ui/a").setEpoch(epoch).setVersion(1).build(),
                    Position.newBuilder().setDocument("ui/gone").setEpoch(5).setVersion(1).build(),
                    Position.newBuilder().setDocument("cart").setEpoch(5).setVersion(1).build()))
            .join();
    java.util.Map<String, DocumentSync.Mode> modes = new java.util.HashMap<>();
    results.forEach(r -> modes.put(r.document(), r.mode()));
    assertEquals(
        java.util.Map.of(
            "ui/a", DocumentSync.Mode.UP_TO_DATE,
            "ui/b", DocumentSync.Mode.SNAPSHOT,
            "ui/gone", DocumentSync.Mode.GONE),
        modes);
  }

  /**
   * More documents than one window of reads ({@code ReadWindow.READS}, for engines that read each
   * document with a command of its own): every one answered once, from its own position.
   */
  @Test
  void syncOfMoreDocumentsThanAWindowAnswersEachOnceFromItsPosition() {
    WriteOutcome a = write("d1", set("a", 1, "f", "1"));
    write("d1", set("b", 2, "f", "2"));
    write("d1", set("b", 3, "f", "3"));
    write("d1", set("c", 4, "f", "4"));
    java.util.List<Position> positions = new java.util.ArrayList<>();
    positions.add(
        Position.newBuilder()
            .setDocument("a")
            .setEpoch(a.epoch())
            .setVersion(1)
            .setFingerprint(a.fingerprint())
            .build());
    positions.add(
        Position.newBuilder().setDocument("b").setEpoch(a.epoch() + 1).setVersion(1).build());
    for (int i = 0; i < 40; i++) {
      positions.add(
          Position.newBuilder().setDocument("gone/" + i).setEpoch(5).setVersion(1).build());
    }
    FollowFilter all = FollowFilter.of(FollowSpec.newBuilder().addPrefixes("").build());
    List<SyncResult> results = store.sync(user, all, positions).join();
    assertEquals(43, results.size(), "a, b, c and 40 gone");
    java.util.Map<String, SyncResult> byName = new java.util.HashMap<>();
    results.forEach(r -> assertEquals(null, byName.put(r.document(), r), "once: " + r.document()));
    assertEquals(DocumentSync.Mode.UP_TO_DATE, byName.get("a").mode());
    SyncResult b = byName.get("b");
    assertEquals(DocumentSync.Mode.SNAPSHOT, b.mode());
    assertEquals(2, b.toVersion());
    assertEquals("3", b.fields().get("f").toStringUtf8());
    SyncResult c = byName.get("c");
    assertEquals(DocumentSync.Mode.SNAPSHOT, c.mode(), "no position: a snapshot");
    assertEquals("4", c.fields().get("f").toStringUtf8());
    for (int i = 0; i < 40; i++) {
      assertEquals(DocumentSync.Mode.GONE, byName.get("gone/" + i).mode());
    }
  }

  @Test
  void usersAreIsolated() throws Exception {
    write("d1", set("doc", 1, "f", "mine"));
    String other = user + "-other";
    assertEquals(DocumentSync.Mode.GONE, store.read(other, "doc", 0, 0).join().mode());
    assertEquals(1, store.write(other, "d1", set("doc", 1, "f", "theirs")).join().version());
    assertEquals("mine", store.read(user, "doc", 0, 0).join().fields().get("f").toStringUtf8());
    write("d1", set("doc", 2, "f", "mine again"));
    awaitPublished(2);
    assertTrue(
        published.stream().allMatch(e -> e.userId().equals(user)),
        "the other user's write is not published to this user");
  }

  @Test
  void olderWriteOfADeviceIsNeverAppliedAfterItsNewerOneToTheSameDocument() throws Exception {
    assertTrue(write("d1", set("doc", 7, "f", "newer")).isApplied());
    WriteOutcome older = write("d1", set("doc", 5, "f", "older"));
    assertFalse(older.isApplied());
    assertEquals(ErrorCode.OUT_OF_ORDER, older.error());
    assertEquals(1, older.version(), "the refusal says where the document is");
    assertTrue(older.message().contains("client_seq 7"), older.message());
    WriteOutcome again = write("d1", set("doc", 5, "f", "older"));
    assertTrue(again.duplicate(), "a re-send gets the same answer");
    assertEquals(ErrorCode.OUT_OF_ORDER, again.error());
    assertEquals("newer", store.read(user, "doc", 0, 0).join().fields().get("f").toStringUtf8());
    awaitPublished(1);
  }

  @Test
  void orderIsPerDeviceAndDocument() throws Exception {
    write("d1", set("doc", 7, "f", "a"));
    assertTrue(write("d1", set("other", 5, "f", "b")).isApplied(), "another document");
    assertTrue(write("d2", set("doc", 5, "f", "c")).isApplied(), "another device");
    assertTrue(write("d1", set("doc", 8, "f", "d")).isApplied(), "a newer write");
    awaitPublished(4);
  }

  @Test
  void refusedWriteStillOrdersTheDocument() {
    write("d1", set("doc", 1, "f", "a"));
    Write conflict = set("doc", 4, "f", "b").toBuilder().setExpectedVersion(9).build();
    assertEquals(ErrorCode.CONFLICT, write("d1", conflict).error());
    assertEquals(ErrorCode.OUT_OF_ORDER, write("d1", set("doc", 3, "f", "c")).error());
    assertTrue(write("d1", set("doc", 5, "f", "d")).isApplied());
  }

  @Test
  void aSequenceUsedForAnotherDocumentIsRefusedAndChangesNothing() throws Exception {
    WriteOutcome e = write("d1", set("e", 2, "f", "x"));
    assertTrue(e.isApplied());
    WriteOutcome f = write("d1", set("f", 2, "f", "y"));
    assertFalse(f.isApplied(), "not answered as e's outcome: " + f);
    assertEquals(ErrorCode.BAD_REQUEST, f.error(), f.toString());
    assertTrue(f.message().contains("client_seq 2"), f.message());
    assertTrue(f.message().contains("another document"), f.message());
    assertEquals(DocumentSync.Mode.GONE, store.read(user, "f", 0, 0).join().mode(), "no f");
    // A refusal remembered for e is not the answer to another document either.
    Write conflict = set("e", 3, "f", "z").toBuilder().setExpectedVersion(9).build();
    assertEquals(ErrorCode.CONFLICT, write("d1", conflict).error());
    assertEquals(ErrorCode.BAD_REQUEST, write("d1", set("g", 3, "f", "y")).error());
    assertEquals(java.util.Set.of("e"), store.documents(user).join());
    // The genuine re-sends are still answered as the first time.
    WriteOutcome again = write("d1", set("e", 2, "f", "x"));
    assertTrue(again.duplicate(), again.toString());
    assertEquals(e.epoch(), again.epoch());
    assertEquals(1, again.version());
    assertEquals(ErrorCode.CONFLICT, write("d1", conflict).error());
    assertEquals(3L, store.lastClientSeq(user, "d1").join());
    // f, written under a number of its own, is created at version 1.
    WriteOutcome created = write("d1", set("f", 4, "f", "y"));
    assertTrue(created.isApplied());
    assertFalse(created.duplicate());
    assertEquals(1, created.version());
    awaitPublished(2);
  }

  @Test
  void aReSendIsAnsweredAsTheFirstTimeAfterItsDocumentsHistoryWasLost() throws Exception {
    WriteOutcome e = write("d1", set("e", 2, "f", "x"));
    idleTtlPasses();
    // The device writes on (another document), so its records stay while e goes.
    assertTrue(write("d1", set("keep", 3, "f", "y")).isApplied(), "the device writes on");
    dropIdleDocument("e");
    assertEquals(DocumentSync.Mode.GONE, store.read(user, "e", 0, 0).join().mode(), "e is gone");
    WriteOutcome again = write("d1", set("e", 2, "f", "x"));
    assertTrue(again.isApplied(), again.toString());
    assertTrue(again.duplicate());
    assertEquals(e.epoch(), again.epoch(), "the epoch it was applied in");
    assertEquals(1, again.version());
    assertEquals(e.fingerprint(), again.fingerprint());
    WriteOutcome other = write("d1", set("f", 2, "f", "y"));
    assertEquals(ErrorCode.BAD_REQUEST, other.error(), other.toString());
    assertEquals(DocumentSync.Mode.GONE, store.read(user, "f", 0, 0).join().mode(), "no f");
  }
}
