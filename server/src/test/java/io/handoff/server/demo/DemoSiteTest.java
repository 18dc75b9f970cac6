package io.handoff.server.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.TestServer;
import io.handoff.server.auth.DevTokens;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoSiteTest {
  private final HttpClient http = HttpClient.newHttpClient();

  @Test
  void developmentNodeServesTheDemoAndMintsTokensThatConnect(@TempDir Path clientJs)
      throws Exception {
    Files.createDirectories(clientJs.resolve("demo"));
    Files.createDirectories(clientJs.resolve("dist"));
    Files.writeString(clientJs.resolve("demo/index.html"), "<h1>handoff demo</h1>");
    Files.writeString(clientJs.resolve("dist/handoff-client.min.js"), "export {};");
    System.setProperty(DemoSite.DIR_PROPERTY, clientJs.toString());
    try (TestServer node = TestServer.start(b -> b.developmentSecret(DevTokens.randomSecret()))) {
      String base = "http://127.0.0.1:" + node.port();

      HttpResponse<String> page = get(base + "/demo/");
      assertEquals(200, page.statusCode());
      assertEquals("<h1>handoff demo</h1>", page.body());
      assertEquals(200, get(base + "/demo/handoff-client.js").statusCode());
      assertEquals(404, get(base + "/demo/..%2Fdist%2Fhandoff-client.min.js").statusCode());
      assertEquals(400, get(base + "/demo/token?device=..%2F..").statusCode());
      // A query whose escape does not decode (the JDK's client will not send one): a clear 400.
      try (Socket s = new Socket("127.0.0.1", node.port())) {
        s.setSoTimeout(10_000);
        s.getOutputStream()
            .write(
                "GET /demo/token?device=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
        assertTrue(answer.contains("{\"error\":\"invalid_request\""), answer);
        assertTrue(answer.contains("malformed percent-escape"), answer);
      }

      HttpResponse<String> minted = get(base + "/demo/token?device=tv");
      assertEquals(200, minted.statusCode());
      Matcher m = Pattern.compile("\"token\":\"([^\"]+)\"").matcher(minted.body());
      assertTrue(m.find(), minted.body());
      WebSocket ws =
          http.newWebSocketBuilder()
              .buildAsync(
                  URI.create(node.url() + "?access_token=" + m.group(1)),
                  new WebSocket.Listener() {})
              .get(10, TimeUnit.SECONDS);
      ws.abort();
    } finally {
      System.clearProperty(DemoSite.DIR_PROPERTY);
    }
  }

  @Test
  void nodeWithARealSecretHasNoDemoAndMintsNothing() throws Exception {
    try (TestServer node = TestServer.start()) {
      String base = "http://127.0.0.1:" + node.port();
      for (String path :
          new String[] {"/demo", "/demo/", "/demo/token?device=tv", "/demo/handoff-client.js"}) {
        HttpResponse<String> res = get(base + path);
        assertEquals(404, res.statusCode(), path);
        assertTrue(!res.body().contains("token\""), path + ": " + res.body());
        // The README's quick start exports HANDOFF_JWT_SECRET; the 404 says what to change.
        assertTrue(res.body().contains("\"error\":\"not_found\""), path + ": " + res.body());
        assertTrue(
            res.body().contains("development secret") && res.body().contains("HANDOFF_JWT_SECRET"),
            path + ": " + res.body());
      }
      assertTrue(get(base + "/nothing").body().contains("no such path"));
    }
  }

  private HttpResponse<String> get(String url) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }
}
