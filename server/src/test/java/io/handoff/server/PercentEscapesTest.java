package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Percent-escapes over real sockets (memory engine): a URL or form body whose escapes do not decode
 * gets a 400 {@code invalid_request} saying so, on the public port and the admin port, without a
 * warning in the log and without disturbing anyone else; a device id in a path is decoded once.
 */
class PercentEscapesTest {
  private final AppBackend app = new AppBackend();

  @RegisterExtension final CapturedLog logged = new CapturedLog("io.handoff.server");

  private TestServer server;
  private HttpApi api;

  @BeforeEach
  void start() throws Exception {
    server =
        TestServer.start(
            b ->
                b.admin("127.0.0.1", 0)
                    .tokens(app.tokens().build())
                    .storeLimits(StoreLimits.builder().maxDevicesPerUser(8).build()));
    api = new HttpApi(server.port());
  }

  @AfterEach
  void stop() {
    server.close();
  }

  /**
   * Sends {@code request} (the request line and headers, without the blank line) and {@code body}
   * as they are, on a connection of its own, and reads the answer.
   */
  private static RawHttp exchange(int port, String request, String body) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(10_000);
      byte[] content = body.getBytes(StandardCharsets.UTF_8);
      String head =
          request
              + "\r\nHost: 127.0.0.1\r\n"
              + (content.length > 0 ? "Content-Length: " + content.length + "\r\n" : "")
              + "\r\n";
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().write(content);
      s.getOutputStream().flush();
      return RawHttp.read(s.getInputStream());
    }
  }

  private void assertMalformedEscape(RawHttp r, String where) {
    assertEquals(400, r.status(), r.toString());
    assertTrue(r.head().contains("\r\ncontent-type: application/json"), r.toString());
    assertEquals("invalid_request", r.field("error"), r.toString());
    assertTrue(
        r.field("message").startsWith("the " + where + " has a malformed percent-escape"),
        r.toString());
  }

  private HttpApi.Answer signIn(String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, "the " + device, "ios");
    assertEquals(201, a.status(), a.toString());
    return a;
  }

  @Test
  void malformedEscapesGetA400SayingSoWithoutAWarningAndTheNodeKeepsServing() throws Exception {
    HttpApi.Answer bystander = signIn("bea", "phone");
    try (TestDevice connected =
        TestDevice.connect(server.port(), bystander.field("access_token"))) {
      connected.hello();
      int port = server.port();
      logged.clear();

      assertMalformedEscape(exchange(port, "GET /%zz HTTP/1.1", ""), "URL");
      assertMalformedEscape(exchange(port, "GET /healthz%2 HTTP/1.1", ""), "URL");
      assertMalformedEscape(exchange(port, "GET /ws?access_token=%zz HTTP/1.1", ""), "URL");
      assertMalformedEscape(
          exchange(
              port,
              "POST /v1/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
              "grant_type=%zz"),
          "form body");
      assertMalformedEscape(
          exchange(
              port,
              "DELETE /v1/devices/50%off HTTP/1.1\r\nAuthorization: Bearer "
                  + bystander.field("access_token"),
              ""),
          "URL");
      assertMalformedEscape(exchange(server.server.adminPort(), "GET /%zz HTTP/1.1", ""), "URL");

      // A literal % sent as %25 is no malformed escape: a device "50%off" that does not exist.
      RawHttp unknown =
          exchange(
              port,
              "DELETE /v1/devices/50%25off HTTP/1.1\r\nAuthorization: Bearer "
                  + bystander.field("access_token"),
              "");
      assertEquals(404, unknown.status(), unknown.toString());
      assertEquals("unknown_device", unknown.field("error"), unknown.toString());
      assertTrue(unknown.field("message").endsWith("device 50%off"), unknown.toString());

      // Nothing warned, and the node serves on: the connected device, sign-ins, the probes.
      List<ILoggingEvent> warnings =
          logged.events().stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN)).toList();
      assertEquals(List.of(), warnings, "no warning for a client's malformed escape");
      connected.write("cart", 1, "items", "2");
      assertTrue(connected.next(ServerFrame::hasAck).hasAck());
      assertEquals(200, exchange(port, "GET /healthz HTTP/1.1", "").status());
      assertEquals(200, exchange(server.server.adminPort(), "GET /healthz HTTP/1.1", "").status());
      assertEquals(200, api.get("/v1/devices", bystander.field("access_token")).status());
      assertEquals(200, api.refresh(bystander.field("refresh_token")).status());
    }
  }

  @Test
  void aMalformedFormBodyLeavesTheConnectionUsableForTheNextRequest() throws Exception {
    HttpApi.Answer a = signIn("cal", "phone");
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", server.port()), 10_000);
      s.setSoTimeout(10_000);
      String bad = "grant_type=refresh_token&refresh_token=%";
      String good =
          "grant_type=refresh_token&refresh_token="
              + java.net.URLEncoder.encode(a.field("refresh_token"), StandardCharsets.UTF_8);
      for (String body : List.of(bad, good)) {
        s.getOutputStream()
            .write(
                ("POST /v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\n"
                        + "Content-Length: "
                        + body.length()
                        + "\r\n\r\n"
                        + body)
                    .getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        RawHttp r = RawHttp.read(s.getInputStream());
        if (body.equals(bad)) {
          assertMalformedEscape(r, "form body");
        } else {
          assertEquals(200, r.status(), r.toString());
          assertEquals("cal", r.field("user_id"), r.toString());
        }
      }
    }
  }

  @Test
  void aDeviceIdInThePathIsDecodedOnceSoAPlusIsAPlus() throws Exception {
    HttpApi.Answer plus = signIn("dee", "a+b");
    HttpApi.Answer space = signIn("dee", "a b");
    HttpApi.Answer percent = signIn("dee", "50%off");
    String token = signIn("dee", "laptop").field("access_token");

    HttpApi.Answer revoked = api.delete("/v1/devices/a%2Bb", token);
    assertEquals(200, revoked.status(), revoked.toString());
    assertEquals("{\"revoked\":[\"a+b\"]}", revoked.body().trim());
    assertEquals(400, api.refresh(plus.field("refresh_token")).status(), "a+b is revoked");
    assertEquals(200, api.refresh(space.field("refresh_token")).status(), "a b is not");

    HttpApi.Answer again = api.delete("/v1/devices/a+b", token);
    assertEquals(404, again.status(), "a+b in the path is the same device, gone: " + again);
    assertEquals(
        "{\"revoked\":[\"a b\"]}", api.delete("/v1/devices/a%20b", token).body().trim(), "a b");
    assertEquals(
        "{\"revoked\":[\"50%off\"]}",
        api.delete("/v1/devices/50%25off", token).body().trim(), "a literal % sent as %25");
    assertEquals(400, api.refresh(percent.field("refresh_token")).status(), "50%off is revoked");
    HttpApi.Answer left = api.get("/v1/devices", token);
    assertTrue(left.body().matches("\\{\"devices\":\\[\\{\"device_id\":\"laptop\".*"), left.body());
  }
}
