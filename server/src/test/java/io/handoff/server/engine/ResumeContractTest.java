package io.handoff.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.Writes;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.ResumeStore.Request;
import io.handoff.server.engine.ResumeStore.Resumed;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.Made;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link ResumeStore} contract, written once and run against every engine: one resume call
 * answers what the separate store calls answer, marks the device online before it reads presence,
 * and changes nothing for a session that is not alive.
 */
public abstract class ResumeContractTest {
  private static final Duration TTL = Duration.ofSeconds(30);

  protected final MutableClock clock = new MutableClock(1_700_000_000_000L);
  protected Engine engine;
  private String user;

  /** A fresh engine on {@code clock}. */
  protected abstract Engine newEngine(StoreLimits limits, MutableClock clock) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(StoreLimits.builder().maxDevicesPerUser(4).build(), clock);
    user = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private WriteOutcome write(String device, String doc, long seq) throws Exception {
    return get(engine.store().write(user, device, Writes.set(doc, seq, "f", doc + " v" + seq)));
  }

  private Offer offer(String id, String from, Duration ttl) {
    return TestOffers.offer(id, from, clock.millis(), ttl);
  }

  /** The connection number of {@code device}'s one connection in these tests. */
  private static long connection(String device) {
    return switch (device) {
      case "phone" -> 1;
      case "laptop" -> 2;
      case "tv" -> 3;
      default -> throw new IllegalArgumentException("no connection number for " + device);
    };
  }

  private Request request(String device, String sessionId, FollowFilter follow, List<Position> at) {
    return new Request(user, device, sessionId, follow, at, connection(device), TTL, 4);
  }

  /**
   * Documents at every kind of position, activities, a live offer, ended and expired offers, and
   * another device's presence: what the phone finds when it comes back.
   */
  private List<Position> fill() throws Exception {
    HandoffStore handoff = engine.handoff();
    WriteOutcome player1 = write("laptop", "player", 1);
    write("laptop", "player", 2);
    write("laptop", "player", 3);
    WriteOutcome cart = write("phone", "cart", 7);
    write("laptop", "queue", 4);
    write("laptop", "other/notes", 5);
    WriteOutcome diverged = write("laptop", "lyrics", 6);
    get(
        handoff.putActivity(
            user, Activity.newBuilder().setDeviceId("laptop").build(), Duration.ofDays(1), 64));
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(user, offer("live", "laptop", Duration.ofMinutes(5)), 8)).made());
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(user, offer("won", "laptop", Duration.ofMinutes(5)), 8)).made());
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(user, offer("late", "laptop", Duration.ofSeconds(5)), 8)).made());
    get(handoff.endOffer(user, "won", "phone", OfferOutcome.ACCEPTED));
    get(handoff.online(user, "laptop", connection("laptop"), 0, TTL, 4));
    get(handoff.online(user, "tv", connection("tv"), 0, TTL, 4));
    get(handoff.offline(user, "tv", connection("tv")));
    clock.advance(Duration.ofSeconds(10)); // "late" is past its deadline, not ended by anyone
    return List.of(
        Writes.position("player", player1), // behind: deltas 2 and 3
        Writes.position("cart", cart), // up to date
        Position.newBuilder()
            .setDocument("lyrics")
            .setEpoch(diverged.epoch())
            .setVersion(diverged.version())
            .setFingerprint(diverged.fingerprint() ^ 1)
            .build(), // same version, another fingerprint: diverged
        Position.newBuilder().setDocument("queue").setEpoch(12345).setVersion(1).build(),
        Position.newBuilder().setDocument("gone").setEpoch(777).setVersion(3).build());
  }

  @Test
  void oneCallAnswersWhatTheSeparateCallsAnswer() throws Exception {
    List<Position> positions = fill();
    Request r = request("phone", "", FollowFilter.all(), positions);

    Resumed one = get(engine.resume(r));
    Resumed separate = get(ResumeStore.separately(engine, r));

    assertNull(one.session());
    assertTrue(one.sessionAlive());
    assertEquals(7, one.lastClientSeq());
    assertEquals(separate.lastClientSeq(), one.lastClientSeq());
    assertEquals(describe(separate.documents()), describe(one.documents()));
    Map<String, String> docs = describe(one.documents());
    assertEquals("DELTAS 1->3 [2, 3]", docs.get("player"));
    assertTrue(docs.get("cart").startsWith("UP_TO_DATE"), docs.get("cart"));
    assertTrue(docs.get("lyrics").startsWith("SNAPSHOT DIVERGED"), docs.get("lyrics"));
    assertTrue(docs.get("queue").startsWith("SNAPSHOT EPOCH_CHANGED"), docs.get("queue"));
    assertTrue(docs.get("other/notes").startsWith("SNAPSHOT NO_POSITION"), docs.get("other/notes"));
    assertEquals("GONE", docs.get("gone"));
    assertEquals(6, docs.size());

    assertEquals(separate.activities(), one.activities());
    assertEquals(List.of("laptop"), one.activities().stream().map(Activity::getDeviceId).toList());
    assertEquals(List.of("live"), one.offers().stream().map(Offer::getOfferId).toList());
    assertEquals(separate.offers(), one.offers());
    assertEquals(describeEnded(separate.ended()), describeEnded(one.ended()));
    assertEquals("late EXPIRED by '', won ACCEPTED by 'phone'", describeEnded(one.ended()));
    assertEquals(describePresence(separate.presence()), describePresence(one.presence()));
  }

  @Test
  void theDeviceIsOnlineBeforePresenceIsRead() throws Exception {
    fill();
    Resumed r = get(engine.resume(request("phone", "", FollowFilter.all(), List.of())));
    assertEquals("laptop online, phone online, tv offline", describePresence(r.presence()));
    assertEquals(
        "laptop online, phone online, tv offline",
        describePresence(get(engine.handoff().presence(user))));
    // Online through this connection: only its own close takes it offline.
    assertFalse(get(engine.handoff().offline(user, "phone", 999)));
    assertTrue(get(engine.handoff().offline(user, "phone", connection("phone"))));
  }

  @Test
  void onlyFollowedDocumentsAreRead() throws Exception {
    List<Position> positions = fill();
    FollowFilter follow =
        FollowFilter.of(
            FollowSpec.newBuilder().addDocuments("player").addPrefixes("other/").build());
    Request r = request("phone", "", follow, positions);
    Map<String, String> docs = describe(get(engine.resume(r)).documents());
    assertEquals(List.of("other/notes", "player"), new ArrayList<>(docs.keySet()));
    assertEquals(describe(get(ResumeStore.separately(engine, r)).documents()), docs);
  }

  @Test
  void aRevokedSessionChangesNothing() throws Exception {
    fill();
    byte[] hash = "refresh".getBytes(StandardCharsets.UTF_8);
    get(engine.sessions().create(user, "s-phone", "phone", "Phone", "ios", hash));
    get(engine.sessions().revoke(user, "phone", false));

    Resumed r = get(engine.resume(request("phone", "s-phone", FollowFilter.all(), List.of())));

    assertFalse(r.sessionAlive());
    assertTrue(r.session().revoked());
    assertTrue(r.documents().isEmpty());
    assertTrue(r.presence().isEmpty());
    assertEquals(
        "laptop online, tv offline", describePresence(get(engine.handoff().presence(user))));
  }

  @Test
  void aSessionOfAnotherDeviceIsNotAliveForThisOne() throws Exception {
    byte[] hash = "refresh".getBytes(StandardCharsets.UTF_8);
    get(engine.sessions().create(user, "s-laptop", "laptop", "Laptop", "macos", hash));

    Resumed r = get(engine.resume(request("phone", "s-laptop", FollowFilter.all(), List.of())));

    assertFalse(r.sessionAlive());
    assertEquals("laptop", r.session().deviceId());
    assertTrue(get(engine.handoff().presence(user)).isEmpty());
  }

  @Test
  void aSessionDeadOfInactivityChangesNothing() throws Exception {
    byte[] hash = "refresh".getBytes(StandardCharsets.UTF_8);
    get(engine.sessions().create(user, "s-phone", "phone", "Phone", "ios", hash));
    long inactivity = Duration.ofHours(1).toMillis();
    clock.advance(Duration.ofMillis(inactivity + 1));
    get(engine.sessions().seen(user, "s-phone", "n1", true)); // Seen, but never refreshed.

    Resumed r =
        get(
            engine.resume(
                new Request(
                    user,
                    "phone",
                    "s-phone",
                    FollowFilter.all(),
                    List.of(),
                    connection("phone"),
                    0,
                    TTL,
                    4,
                    inactivity,
                    takenBack -> {})));

    assertFalse(r.sessionAlive());
    assertFalse(r.session().alive());
    assertFalse(r.session().revoked(), "gone, not revoked");
    assertTrue(get(engine.handoff().presence(user)).isEmpty());
  }

  @Test
  void aLiveSessionResumes() throws Exception {
    fill();
    byte[] hash = "refresh".getBytes(StandardCharsets.UTF_8);
    get(engine.sessions().create(user, "s-phone", "phone", "Phone", "ios", hash));

    Resumed r = get(engine.resume(request("phone", "s-phone", FollowFilter.all(), List.of())));

    assertTrue(r.sessionAlive());
    assertEquals(new SessionStore.Status(true, false, "phone"), r.session());
    assertEquals(7, r.lastClientSeq());
    assertEquals(5, r.documents().size());
    assertEquals("laptop online, phone online, tv offline", describePresence(r.presence()));
  }

  /** A pending new-device sign-in request of {@code userId}, its deadline {@code ttl} from now. */
  private ApprovalStore.Request signIn(String userId, String device, Duration ttl) {
    long now = clock.millis();
    return new ApprovalStore.Request(
        UUID.randomUUID().toString(),
        "new_device",
        userId,
        device,
        "New " + device,
        "tv",
        "127.0.0.1",
        now,
        now + ttl.toMillis(),
        1_000,
        "0".repeat(64),
        ApprovalStore.State.PENDING,
        "",
        0);
  }

  @Test
  void theResumeCountsWhatThePendingReadWouldList() throws Exception {
    Request phone = request("phone", "", FollowFilter.all(), List.of());
    assertEquals(0, get(engine.resume(phone)).pendingApprovals(), "none yet");
    ApprovalStore store = engine.approvals();
    ApprovalStore.Bounds bounds = new ApprovalStore.Bounds(100, 10, 10);
    assertEquals(
        ApprovalStore.Created.CREATED,
        get(store.create(signIn(user, "tv", Duration.ofMinutes(1)), bounds)));
    assertEquals(
        ApprovalStore.Created.CREATED,
        get(store.create(signIn(user, "car", Duration.ofMinutes(3)), bounds)));
    assertEquals(
        ApprovalStore.Created.CREATED,
        get(store.create(signIn("someone-else-" + user, "tv", Duration.ofMinutes(3)), bounds)));

    Resumed r = get(engine.resume(phone));
    assertEquals(2, r.pendingApprovals());
    assertEquals(get(store.pending(user, clock.millis())).size(), r.pendingApprovals());

    clock.advance(Duration.ofMinutes(2)); // The tv's request is past its deadline.
    r = get(engine.resume(phone));
    assertEquals(1, r.pendingApprovals());
    assertEquals(get(store.pending(user, clock.millis())).size(), r.pendingApprovals());
  }

  @Test
  void aResumeOfADeadSessionReadsNoPendingRequests() throws Exception {
    byte[] hash = "refresh".getBytes(StandardCharsets.UTF_8);
    get(engine.sessions().create(user, "s-laptop", "laptop", "Laptop", "macos", hash));
    Resumed r = get(engine.resume(request("phone", "s-laptop", FollowFilter.all(), List.of())));
    assertFalse(r.sessionAlive());
    assertEquals(Resumed.UNKNOWN, r.pendingApprovals());
  }

  /**
   * Positions the history cannot serve, on every engine as the separate calls answer them: a device
   * behind by more deltas than the history keeps, one behind by deltas past the age limit, one
   * ahead of the document (the store lost writes), and one naming its document twice (the last
   * counts).
   */
  @Test
  void positionsHistoryCannotServeAreAnsweredWithSnapshots() throws Exception {
    engine.close();
    engine =
        newEngine(
            StoreLimits.builder()
                .maxDevicesPerUser(4)
                .historyLength(2)
                .historyMaxAge(Duration.ofMinutes(10))
                .build(),
            clock);
    WriteOutcome long1 = write("laptop", "long", 1);
    for (long s = 2; s <= 5; s++) {
      write("laptop", "long", s);
    }
    WriteOutcome old1 = write("laptop", "old", 6);
    write("laptop", "old", 7);
    WriteOutcome ahead = write("laptop", "ahead", 8);
    WriteOutcome twice1 = write("laptop", "twice", 9);
    WriteOutcome twice2 = write("laptop", "twice", 10);
    clock.advance(Duration.ofMinutes(11)); // "old"'s delta 2 is past the age limit now
    WriteOutcome recent = write("laptop", "recent", 11);
    write("laptop", "recent", 12);
    List<Position> positions =
        List.of(
            Writes.position("long", long1), // 4 behind, history keeps 2
            Writes.position("old", old1), // 1 behind, that delta too old
            Position.newBuilder()
                .setDocument("ahead")
                .setEpoch(ahead.epoch())
                .setVersion(ahead.version() + 3)
                .build(),
            Writes.position("twice", twice1),
            Writes.position("twice", twice2), // the last of a document counts
            Writes.position("recent", recent));
    Request r = request("phone", "", FollowFilter.all(), positions);

    Map<String, String> one = describe(get(engine.resume(r)).documents());

    assertEquals(describe(get(ResumeStore.separately(engine, r)).documents()), one);
    assertTrue(one.get("long").startsWith("SNAPSHOT HISTORY_TRIMMED v5"), one.get("long"));
    assertTrue(one.get("old").startsWith("SNAPSHOT HISTORY_TRIMMED v2"), one.get("old"));
    assertTrue(one.get("ahead").startsWith("SNAPSHOT DIVERGED v1"), one.get("ahead"));
    assertTrue(one.get("twice").startsWith("UP_TO_DATE v2"), one.get("twice"));
    assertEquals("DELTAS 1->2 [2]", one.get("recent"));
    assertEquals(5, one.size());
  }

  /**
   * A user whose documents add up to more than a store may carry in one reply (Redis: sixteen of
   * the largest documents; the rest are read one by one): every document comes, from its position,
   * as the separate calls answer it.
   */
  @Test
  void documentsPastTheResumesReplyBudgetAreReadAllTheSame() throws Exception {
    engine.close();
    engine =
        newEngine(
            StoreLimits.builder()
                .maxDevicesPerUser(4)
                .maxDocumentBytes(1024)
                .maxValueBytes(1024)
                .build(),
            clock);
    List<Position> positions = new ArrayList<>();
    for (int d = 0; d < 40; d++) {
      String doc = "doc/" + d;
      Write w = Writes.set(doc, 2L * d + 1, "f", "v".repeat(900));
      WriteOutcome first = get(engine.store().write(user, "laptop", w));
      get(engine.store().write(user, "laptop", Writes.set(doc, 2L * d + 2, "f", "w".repeat(900))));
      if (d % 2 == 0) {
        positions.add(Writes.position(doc, first)); // one behind: a delta
      }
    }
    Request r = request("phone", "", FollowFilter.all(), positions);

    Map<String, String> one = describe(get(engine.resume(r)).documents());

    assertEquals(40, one.size());
    assertEquals(describe(get(ResumeStore.separately(engine, r)).documents()), one);
    for (int d = 0; d < 40; d++) {
      String got = one.get("doc/" + d);
      if (d % 2 == 0) {
        assertEquals("DELTAS 1->2 [2]", got);
      } else {
        assertEquals(
            "SNAPSHOT NO_POSITION v2 fp "
                + got.split(" fp ")[1].split(" ")[0]
                + " {f="
                + "w".repeat(900)
                + "}",
            got);
      }
    }
  }

  /** Each document's result in words, by name. */
  private static Map<String, String> describe(List<SyncResult> results) {
    Map<String, String> out = new TreeMap<>();
    for (SyncResult s : results) {
      String d =
          switch (s.mode()) {
            case DELTAS ->
                "DELTAS "
                    + s.fromVersion()
                    + "->"
                    + s.toVersion()
                    + " "
                    + s.deltas().stream().map(DocumentEvent::version).toList();
            case SNAPSHOT ->
                "SNAPSHOT "
                    + s.reason()
                    + " v"
                    + s.toVersion()
                    + " fp "
                    + s.fingerprint()
                    + " "
                    + fields(s.fields());
            case UP_TO_DATE -> "UP_TO_DATE v" + s.toVersion() + " fp " + s.fingerprint();
            default -> s.mode() == DocumentSync.Mode.GONE ? "GONE" : s.mode().toString();
          };
      out.put(s.document(), d);
    }
    return out;
  }

  private static String fields(Map<String, ByteString> fields) {
    Map<String, String> out = new TreeMap<>();
    fields.forEach((k, v) -> out.put(k, v.toStringUtf8()));
    return out.toString();
  }

  private static String describePresence(List<DevicePresence> all) {
    return all.stream()
        .sorted(Comparator.comparing(DevicePresence::getDeviceId))
        .map(p -> p.getDeviceId() + (p.getOnline() ? " online" : " offline"))
        .reduce((a, b) -> a + ", " + b)
        .orElse("");
  }

  private static String describeEnded(List<OfferEnd> ended) {
    return ended.stream()
        .sorted(Comparator.comparing(e -> e.offer().getOfferId()))
        .map(e -> e.offer().getOfferId() + " " + e.outcome() + " by '" + e.byDevice() + "'")
        .reduce((a, b) -> a + ", " + b)
        .orElse("");
  }
}
