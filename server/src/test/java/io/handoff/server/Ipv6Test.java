package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.client.HandoffClient;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node that listens on IPv6 loopback ({@code ::1}), reached by the Java client's own upgrade (an
 * IPv6 literal in the URL, {@code Host: [::1]:port}) and by a plain HTTP client: a write reaches
 * the user's other device, and the per-address bound on upgrades counts {@code ::1}'s /64 as the
 * address. Skipped on a machine without IPv6 loopback.
 */
class Ipv6Test {
  private final List<AutoCloseable> open = new ArrayList<>();

  @BeforeAll
  static void ipv6LoopbackExists() {
    boolean bound;
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
      bound = s.getInetAddress() instanceof Inet6Address;
    } catch (Exception e) {
      bound = false;
    }
    assumeTrue(bound, "this machine has no IPv6 loopback");
  }

  @AfterEach
  void close() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private TestServer node(double connectRate, int connectBurst) throws InterruptedException {
    TestServer server =
        TestServer.start(b -> b.host("::1").connectRatePerAddress(connectRate, connectBurst));
    open.add(server);
    return server;
  }

  private HandoffClient client(int port, String user, String device) throws Exception {
    HandoffClient c = TestServer.clientBuilder("ws://[::1]:" + port + "/ws", user, device).build();
    open.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  @Test
  void aWriteOverIpv6ReachesTheUsersOtherDevice() throws Exception {
    TestServer server = node(0, 1);
    HandoffClient phone = client(server.port(), "ivy", "phone");
    HandoffClient laptop = client(server.port(), "ivy", "laptop");
    long version =
        phone
            .document("cart")
            .set("items", "2 kiwis".getBytes(StandardCharsets.UTF_8))
            .get(10, TimeUnit.SECONDS);
    Conditions.await(
        "the laptop has the phone's write",
        () -> laptop.lastVersion("cart") == version,
        Duration.ofSeconds(10));
    assertEquals("2 kiwis", laptop.document("cart").get("items").toStringUtf8());

    HttpResponse<String> health =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://[::1]:" + server.port() + "/healthz"))
                    .timeout(Duration.ofSeconds(10))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(200, health.statusCode(), health.body());
  }

  @Test
  void upgradesFromIpv6LoopbackShareItsBucket() throws Exception {
    TestServer server = node(0.001, 2);
    client(server.port(), "jo", "phone");
    client(server.port(), "jo", "laptop");
    HandoffClient third =
        TestServer.clientBuilder("ws://[::1]:" + server.port() + "/ws", "jo", "tv").build();
    open.add(third);
    third.connect(); // Refused 429 (the client waits and tries again): not waited for.
    Conditions.await(
        "the third upgrade from ::1 is refused for the address's rate",
        () -> server.server.stats().connectsRateLimited.sum() >= 1,
        Duration.ofSeconds(10));
    assertEquals(2, server.server.stats().connectionsOpened.sum());
  }
}
