package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.devices.ApprovalConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The deployment-wide bound on pending sign-in requests, over real HTTP from several loopback
 * addresses (127.0.0.2, 127.0.0.3, ...), on two nodes sharing a real Redis, with an injected clock.
 */
class PendingSignInsBoundTest {
  private static final Duration CODE_TTL = Duration.ofMinutes(10);
  private final AppBackend app = new AppBackend();
  private final MutableClock clock = new MutableClock();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    return nodes.redis(
        RedisProcess.sharedUrl(),
        name,
        clock,
        b ->
            b.tokens(app.tokens().build())
                .approvals(
                    ApprovalConfig.builder()
                        .newDeviceApproval(true)
                        .codeTtl(CODE_TTL)
                        .maxPending(1, 5)
                        .maxPendingTotal(3)
                        .build()));
  }

  @Test
  void requestsFromManyAddressesStopAtTheDeploymentsBoundOnEveryNodeUntilOneExpires()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    assertEquals(200, requestCode(n1, "127.0.0.2").status());
    assertEquals(200, requestCode(n2, "127.0.0.3").status());
    assertEquals(200, requestCode(n1, "127.0.0.4").status());

    HttpApi.Answer over = requestCode(n2, "127.0.0.5");
    assertEquals(429, over.status(), over.toString());
    assertEquals("too_many_pending", over.field("error"));
    assertTrue(over.field("message").contains("on this service"), over.toString());
    // A held sign-in of a new device counts toward the same bound.
    HttpApi api = new HttpApi(n1.port());
    assertEquals(201, api.signIn(app.identity("ada"), "phone", "Phone", "ios").status());
    HttpApi.Answer held = api.signIn(app.identity("ada"), "tv", "TV", "tv");
    assertEquals(429, held.status(), held.toString());
    assertEquals("too_many_pending", held.field("error"));
    assertEquals(1, n2.deviceSessions().approvals().metrics().refusedFull.sum());
    assertEquals(1, n1.deviceSessions().approvals().metrics().refusedFull.sum());

    clock.advance(CODE_TTL);
    assertEquals(200, requestCode(n2, "127.0.0.5").status(), "expired requests free the bound");
    assertEquals(200, requestCode(n1, "127.0.0.6").status());
    assertEquals(200, requestCode(n2, "127.0.0.7").status());
    assertEquals(429, requestCode(n1, "127.0.0.8").status());
  }

  /** POST /v1/device_authorization from {@code from}, by hand over a socket bound to it. */
  private static HttpApi.Answer requestCode(HandoffServer node, String from) throws IOException {
    byte[] body =
        "{\"device_id\":\"tv\",\"device_name\":\"Living room\",\"platform\":\"tv\"}"
            .getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", node.port()), 5_000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          ("POST /v1/device_authorization HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  + "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "
                  + body.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      String answer = new String(readAll(s.getInputStream()), StandardCharsets.UTF_8);
      int status = Integer.parseInt(answer.substring(9, 12));
      return new HttpApi.Answer(status, answer.substring(answer.indexOf("\r\n\r\n") + 4));
    }
  }

  private static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    byte[] chunk = new byte[4096];
    for (int n; (n = in.read(chunk)) > 0; ) {
      all.write(chunk, 0, n);
    }
    return all.toByteArray();
  }
}
