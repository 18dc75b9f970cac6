package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ServerFrame;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A node that stops drains: writes in flight are answered, then devices go elsewhere. */
class DrainTest {
  @Test
  void stoppingNodeAnswersEveryWriteItAppliedThenSendsShutdown() throws Exception {
    TestServer server = TestServer.start();
    try (TestDevice d = TestDevice.connect(server.port(), token("dora", "phone"))) {
      d.hello();
      int writes = 500;
      for (int i = 1; i <= writes; i++) {
        d.send(SessionProtocolTest.write("draft", i, "text", "v" + i));
      }
      CompletableFuture<Void> stopped = CompletableFuture.runAsync(server::close);
      Set<Long> acked = new HashSet<>();
      ServerFrame f;
      while (!(f = d.next()).hasDisconnect()) {
        if (f.hasAck()) {
          assertTrue(acked.add(f.getAck().getVersion()), "each version acked once");
        }
      }
      assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
      assertTrue(f.getDisconnect().getReconnect(), "the device is told to reconnect elsewhere");
      assertEquals(CloseCode.SHUTDOWN.code(), d.awaitClose());
      stopped.get(30, TimeUnit.SECONDS);
      assertEquals(
          acked.size(),
          server.server.stats().writesApplied.sum(),
          "every write the node applied was acked before it let the device go");
    } finally {
      server.close();
    }
  }

  @Test
  void drainingNodeIsNotReadyAndRefusesNewConnections() throws Exception {
    TestServer server = TestServer.start();
    int port = server.port();
    HttpClient http = HttpClient.newHttpClient();
    URI readyz = URI.create("http://127.0.0.1:" + port + "/readyz");
    assertEquals(
        200,
        http.send(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString())
            .statusCode());
    server.close();
    assertTrue(
        http.sendAsync(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString())
            .handle((r, e) -> e != null)
            .get(10, TimeUnit.SECONDS),
        "a stopped node accepts no connection");
  }
}
