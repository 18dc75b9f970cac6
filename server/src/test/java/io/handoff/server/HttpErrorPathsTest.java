package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Requests the node refuses before doing anything, over raw HTTP/1.1 on real sockets: each answer
 * names what to change, in the status and the JSON message docs/security.md and docs/operations.md
 * give, and a connected device is not disturbed.
 */
class HttpErrorPathsTest {
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  /** Sends {@code head} (request line and headers, blank line included) and reads the answer. */
  private RawHttp exchange(String head) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", server.port()), 10_000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      return RawHttp.read(s.getInputStream());
    }
  }

  private static String request(String line, String... headers) {
    StringBuilder b = new StringBuilder(line).append("\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      b.append(h).append("\r\n");
    }
    return b.append("\r\n").toString();
  }

  private static void assertMethodNotAllowed(RawHttp r, String allow) {
    assertEquals(405, r.status(), r.toString());
    assertEquals("method_not_allowed", r.field("error"), r.toString());
    // RFC 9110 section 15.5.6: a 405 lists the methods the resource takes, and the message names
    // them all, so that a client is not sent from one wrong method to another.
    assertEquals(allow.toLowerCase(Locale.ROOT), r.header("allow"), r.toString());
    for (String m : allow.split(", ")) {
      assertTrue(r.field("message").contains(m), r.toString());
    }
  }

  @Test
  void aWrongMethodIsAnsweredWithEveryMethodThePathTakes() throws Exception {
    String bearer = "Authorization: Bearer " + token("hx", "phone");
    try (TestDevice bystander = TestDevice.connect(server.port(), token("hx", "tv"))) {
      bystander.hello();
      assertMethodNotAllowed(
          exchange(request("PUT /v1/devices HTTP/1.1", bearer, "Content-Length: 0")),
          "GET, DELETE");
      assertMethodNotAllowed(exchange(request("GET /v1/me HTTP/1.1", bearer)), "DELETE");
      assertMethodNotAllowed(exchange(request("GET /v1/devices/tv HTTP/1.1", bearer)), "DELETE");
      assertMethodNotAllowed(exchange(request("GET /v1/sessions HTTP/1.1")), "POST");
      assertMethodNotAllowed(exchange(request("GET /v1/token HTTP/1.1")), "POST");
      assertMethodNotAllowed(
          exchange(request("POST /.well-known/jwks.json HTTP/1.1", "Content-Length: 0")), "GET");
      assertMethodNotAllowed(
          exchange(request("POST /ws HTTP/1.1", bearer, "Content-Length: 0")), "GET");
      assertMethodNotAllowed(
          exchange(request("DELETE /healthz HTTP/1.1", "Content-Length: 0")), "GET, HEAD");

      // Nothing was done: the device is still connected and its session's list is intact.
      bystander.write("doc", 1, "f", "v");
      assertTrue(bystander.next(ServerFrame::hasAck).hasAck());
    }
  }

  @Test
  void aRequestToTheWebSocketPathThatIsNoUpgradeIsToldWhatTheUpgradeNeeds() throws Exception {
    String bearer = "Authorization: Bearer " + token("hx", "phone");
    // A browser or curl opening the endpoint as a page: a 400 in JSON like every other refusal,
    // and the message names what a WebSocket client sends.
    RawHttp page = exchange(request("GET /ws HTTP/1.1", bearer));
    assertEquals(400, page.status(), page.toString());
    assertEquals("bad_request", page.field("error"), page.toString());
    assertTrue(page.field("message").contains("Upgrade: websocket"), page.toString());
    assertTrue(page.head().contains("application/json"), page.toString());

    // An upgrade without its key is no handshake either: a JSON 400 that names the header.
    RawHttp keyless =
        exchange(
            request(
                "GET /ws HTTP/1.1",
                bearer,
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Version: 13"));
    assertEquals(400, keyless.status(), keyless.toString());
    assertEquals("bad_request", keyless.field("error"), keyless.toString());
    assertTrue(keyless.field("message").contains("Sec-WebSocket-Key"), keyless.toString());

    // The token is checked first, so that plain HTTP can try one: refused, it is what is told.
    RawHttp anonymous = exchange(request("GET /ws HTTP/1.1"));
    assertEquals(401, anonymous.status(), anonymous.toString());
  }

  @Test
  void theAdminPortClosesAConnectionWhoseRequestItCouldNotRead() throws Exception {
    try (TestServer admin = TestServer.start(b -> b.admin("127.0.0.1", 0));
        Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", admin.server.adminPort()), 10_000);
      s.setSoTimeout(10_000);
      // Keep-alive (HTTP/1.1), headers over the limit: the codec cannot read this request, nor
      // find where the next one starts, so it reads nothing more on this connection.
      s.getOutputStream()
          .write(
              request("GET /healthz HTTP/1.1", "X-Big: " + "y".repeat(9000))
                  .getBytes(StandardCharsets.US_ASCII));
      RawHttp answer = RawHttp.read(s.getInputStream());
      assertEquals(400, answer.status(), answer.toString());
      // A keep-alive client would send its next request here and wait for ever: the node says
      // it closes, and does.
      assertEquals("close", answer.header("connection"), answer.toString());
      try {
        assertEquals(-1, s.getInputStream().read(), "nothing after the answer");
      } catch (java.net.SocketException reset) {
        // Closed with the rest of the oversized request unread: a reset says so too.
      }
      assertTrue(answer.body().contains("header"), answer.toString());
    }
  }

  @Test
  void aBodyOverTheLimitIsRefusedInJsonThatNamesTheLimit() throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    String big = "{\"identity_token\":\"" + "x".repeat(10_000) + "\"}";
    java.net.URI sessions =
        java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/sessions");
    List<java.net.http.HttpRequest> requests =
        List.of(
            // Content-Length given: the node knows at once.
            java.net.http.HttpRequest.newBuilder(sessions)
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(big))
                .build(),
            // Chunked: the node finds out part-way.
            java.net.http.HttpRequest.newBuilder(sessions)
                .header("Content-Type", "application/json")
                .POST(
                    java.net.http.HttpRequest.BodyPublishers.ofInputStream(
                        () ->
                            new java.io.ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                .build());
    for (java.net.http.HttpRequest req : requests) {
      java.net.http.HttpResponse<String> r =
          http.send(
              java.net.http.HttpRequest.newBuilder(req, (n, v) -> true)
                  .timeout(java.time.Duration.ofSeconds(10))
                  .build(),
              java.net.http.HttpResponse.BodyHandlers.ofString());
      HttpApi.Answer a = new HttpApi.Answer(r.statusCode(), r.body());
      assertEquals(413, a.status(), a.toString());
      assertEquals(
          "application/json", r.headers().firstValue("content-type").orElse(""), a.toString());
      assertEquals("body_too_large", a.field("error"), a.toString());
      assertTrue(a.field("message").contains("8192 bytes"), a.toString());
    }
    // Expect: 100-continue: refused before the body is sent (the JDK's client of Java 17 waits
    // for ever on a refused expectation, so this one goes over a raw socket).
    RawHttp expecting =
        exchange(
            request(
                "POST /v1/sessions HTTP/1.1",
                "Content-Type: application/json",
                "Content-Length: 10000",
                "Expect: 100-continue"));
    assertEquals(413, expecting.status(), expecting.toString());
    assertEquals("body_too_large", expecting.field("error"), expecting.toString());
    assertTrue(expecting.field("message").contains("8192 bytes"), expecting.toString());
  }

  @Test
  void requestsOverTheHeaderAndLineLimitsAreToldWhichLimit() throws Exception {
    RawHttp headers = exchange(request("GET /healthz HTTP/1.1", "X-Big: " + "y".repeat(9000)));
    assertEquals(400, headers.status(), headers.toString());
    assertEquals("bad_request", headers.field("error"), headers.toString());
    assertTrue(headers.field("message").contains("header"), headers.toString());
    assertTrue(headers.field("message").contains("8192 bytes"), headers.toString());
    assertEquals("close", headers.header("connection"), headers.toString());

    RawHttp line = exchange(request("GET /" + "z".repeat(5000) + " HTTP/1.1"));
    assertEquals(400, line.status(), line.toString());
    assertTrue(line.field("message").contains("4096 bytes"), line.toString());

    RawHttp garbage = exchange("not http at all\r\n\r\n");
    assertEquals(400, garbage.status(), garbage.toString());
    assertTrue(garbage.field("message").startsWith("malformed HTTP request"), garbage.toString());
  }
}
