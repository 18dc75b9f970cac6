package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.local.LocalIoHandler;
import io.netty.channel.nio.NioIoHandler;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class HandoffClientBuilderTest {

  private static void assertRejected(String field, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(field), () -> "message should name " + field + ": " + e);
  }

  @Test
  void invalidSettingsAreRejectedWithTheSettingsName() {
    HandoffClient.Builder b = HandoffClient.builder();

    assertRejected("url", () -> b.url(URI.create("http://localhost/ws")));
    assertRejected("url", () -> b.url(null));
    assertRejected("url", b::build);
    assertRejected("token", () -> b.token(""));
    assertRejected("tokenSupplier", () -> b.tokenSupplier(null));
    assertRejected("followDocuments", () -> b.followDocuments("cart", ""));
    assertRejected("reconnectBackoff", () -> b.reconnectBackoff(Duration.ZERO, Duration.ZERO));
    assertRejected(
        "reconnectBackoff", () -> b.reconnectBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)));
    assertRejected("maxUnackedWriteBytes", () -> b.maxUnackedWriteBytes(0));
    assertRejected("unavailableBackoffMax", () -> b.unavailableBackoffMax(Duration.ZERO));
    assertRejected("urls", () -> b.urls(java.util.List.of()));
    assertRejected(
        "urls",
        () ->
            b.urls(
                java.util.List.of(
                    URI.create("ws://a.example/ws"), URI.create("ws://a.example/ws"))));
    assertRejected(
        "url",
        () ->
            b.urls(
                java.util.List.of(
                    URI.create("ws://a.example/ws"), URI.create("http://b.example/ws"))));
    assertRejected("maxInFlightWrites", () -> b.maxInFlightWrites(-1));
    assertRejected("connectTimeout", () -> b.connectTimeout(Duration.ofMillis(-1)));
    assertRejected("heartbeatMargin", () -> b.heartbeatMargin(Duration.ofMillis(-1)));
    assertRejected("heartbeatMargin", () -> b.heartbeatMargin(null));
    assertRejected("clientName", () -> b.clientName(null));
    assertRejected("listener", () -> b.listener(null));
    assertRejected("localAddress", () -> b.localAddress(null));
  }

  /**
   * The delays the TypeScript client's options allow, in the same range: a delay at most 2^31 - 1
   * ms (there its timers run a longer one at once), not zero except the heartbeat margin, and a
   * connect timeout of at least 1 ms (it is counted in whole milliseconds, where 0 means none).
   */
  @Test
  void delaysAreCheckedAsTheTypeScriptClientChecksThem() {
    HandoffClient.Builder b = HandoffClient.builder().url(URI.create("ws://127.0.0.1:9/ws"));
    Duration most = Duration.ofMillis(Integer.MAX_VALUE);
    Duration over = most.plusMillis(1);
    Duration huge = Duration.ofSeconds(Long.MAX_VALUE); // its nanoseconds overflow a long
    assertRejected("reconnectBackoff", () -> b.reconnectBackoff(Duration.ofMillis(100), over));
    assertRejected("reconnectBackoff", () -> b.reconnectBackoff(over, over));
    assertRejected("reconnectBackoff", () -> b.reconnectBackoff(Duration.ofMillis(100), huge));
    assertRejected("unavailableBackoffMax", () -> b.unavailableBackoffMax(over));
    assertRejected("unavailableBackoffMax", () -> b.unavailableBackoffMax(huge));
    assertRejected("connectTimeout", () -> b.connectTimeout(over));
    assertRejected("connectTimeout", () -> b.connectTimeout(huge));
    assertRejected("connectTimeout", () -> b.connectTimeout(Duration.ofNanos(999_999)));
    assertRejected("heartbeatMargin", () -> b.heartbeatMargin(over));
    assertRejected("heartbeatMargin", () -> b.heartbeatMargin(huge));
    // The longest allowed, and a margin of 0 (the interval alone is room enough: see decisions.md).
    b.reconnectBackoff(most, most)
        .unavailableBackoffMax(most)
        .connectTimeout(most)
        .heartbeatMargin(Duration.ZERO);
    HandoffClient client = b.build();
    client.close();
    assertEquals(Duration.ZERO, b.heartbeatMargin);
    b.heartbeatMargin(most);
  }

  @Test
  void eventLoopGroupMustBeNio() {
    EventLoopGroup local = new MultiThreadIoEventLoopGroup(1, LocalIoHandler.newFactory());
    try {
      assertRejected("eventLoopGroup", () -> HandoffClient.builder().eventLoopGroup(local));
    } finally {
      local.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }

  @Test
  void clientsOnASharedGroupSpreadOverItsLoops() {
    EventLoopGroup shared = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    java.util.function.Supplier<HandoffClient> newClient =
        () ->
            HandoffClient.builder()
                .url(URI.create("ws://localhost/ws"))
                .eventLoopGroup(shared)
                .build();
    try (HandoffClient first = newClient.get();
        HandoffClient second = newClient.get()) {
      assertNotSame(first.eventLoop(), second.eventLoop());
    } finally {
      shared.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }

  @Test
  void toStringMasksTheToken() {
    HandoffClient.Builder b =
        HandoffClient.builder().url(URI.create("ws://localhost:8080/ws")).token("s3cr3t-token");

    String described = b.toString();
    String config = new ClientConfig(b).toString();

    assertFalse(described.contains("s3cr3t"), described);
    assertFalse(config.contains("s3cr3t"), config);
    assertTrue(config.contains("token=****"), config);
    assertTrue(config.contains("ws://localhost:8080/ws"), config);
  }

  @Test
  void defaultsAreTheDocumentedOnes() {
    ClientConfig config =
        new ClientConfig(HandoffClient.builder().url(URI.create("ws://localhost/ws")));

    assertTrue(config.followAll);
    assertEquals(HandoffClient.DEFAULT_MAX_UNACKED_WRITE_BYTES, config.maxUnackedWriteBytes);
    assertEquals(16L * 1024 * 1024, config.maxUnackedWriteBytes);
    assertEquals(Duration.ofSeconds(2), config.unavailableBackoffMax);
    assertEquals(java.util.List.of(URI.create("ws://localhost/ws")), config.urls);
    assertEquals(1_000, config.maxInFlightWrites);
    assertEquals(Duration.ofMillis(100), config.reconnectInitial);
    assertEquals(Duration.ofSeconds(30), config.reconnectMax);
    assertEquals(Duration.ofSeconds(10), config.connectTimeout);
    assertEquals(Duration.ofSeconds(5), config.heartbeatMargin);
  }

  @Test
  void followDocumentsTurnsOffFollowAllAndFollowAllClearsTheLists() {
    HandoffClient.Builder b = HandoffClient.builder().url(URI.create("ws://localhost/ws"));

    ClientConfig some = new ClientConfig(b.followDocuments("cart").followPrefixes("ui/"));
    ClientConfig all = new ClientConfig(b.followAll());

    assertFalse(some.followAll);
    assertEquals(java.util.List.of("cart"), some.followDocuments);
    assertTrue(all.followAll);
    assertTrue(all.followDocuments.isEmpty() && all.followPrefixes.isEmpty());
  }

  @Test
  void tokensAnHttpHeaderCannotCarryAreRejected() {
    HandoffClient.Builder b = HandoffClient.builder();

    assertRejected("token", () -> b.token("abc\ndef"));
    assertRejected("token", () -> b.token("abc\r\nX-Evil: 1"));
    assertRejected("token", () -> b.token("two words"));
    assertRejected("token", () -> b.token("caf\u00e9"));
    b.token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"); // A JWT's characters are fine.
  }

  @Test
  void followSetsTheServerWouldRefuseAreRejectedNamingTheLimit() {
    HandoffClient.Builder b = HandoffClient.builder().url(URI.create("ws://localhost/ws"));
    String[] names = new String[256];
    for (int i = 0; i < names.length; i++) {
      names[i] = "doc-" + i;
    }

    b.followDocuments(names).followDocuments(names); // Repeated names count once.
    assertRejected("256", () -> b.followDocuments("one-more"));
    assertRejected("followPrefixes", () -> b.followPrefixes("p/"));
    assertEquals(256, new ClientConfig(b).followDocuments.size(), "a refused call adds nothing");

    HandoffClient.Builder fresh = HandoffClient.builder().url(URI.create("ws://localhost/ws"));
    assertRejected("control characters", () -> fresh.followDocuments("bad\nname"));
    assertRejected("control characters", () -> fresh.followDocuments("tab\tname"));
    assertRejected("256", () -> fresh.followDocuments("x".repeat(257)));
    // 128 two-byte characters: 256 UTF-8 bytes, exactly the limit.
    fresh.followDocuments("\u00e9".repeat(128));
    assertRejected("256", () -> fresh.followDocuments("\u00e9".repeat(129)));
    String[] prefixes = new String[255];
    for (int i = 0; i < prefixes.length; i++) {
      prefixes[i] = "p" + i + "/";
    }
    fresh.followPrefixes(prefixes);
    assertRejected("follow entries", () -> fresh.followPrefixes("q/"));
    fresh.followAll().followPrefixes("q/"); // followAll starts the count over.
  }

  @Test
  void followPrefixesTheServerWouldRefuseAreRejectedBeforeSending() {
    HandoffClient.Builder b = HandoffClient.builder().url(URI.create("ws://localhost/ws"));
    assertRejected("control characters", () -> b.followPrefixes("ui/", "bad\nprefix"));
    assertRejected("control characters", () -> b.followPrefixes("\u0000"));
    assertRejected("control characters", () -> b.followPrefixes("del\u007f"));
    assertRejected("256", () -> b.followPrefixes("x".repeat(257)));
    assertRejected("256", () -> b.followPrefixes("\u00e9".repeat(129)));
    assertTrue(new ClientConfig(b).followPrefixes.isEmpty(), "a refused call adds nothing");
    assertTrue(new ClientConfig(b).followAll, "and leaves following everything as it was");

    b.followPrefixes("", "pl", "\u00e9".repeat(128)); // Empty, partial, exactly 256 bytes.
    assertEquals(3, new ClientConfig(b).followPrefixes.size());
  }
}
