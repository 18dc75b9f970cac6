package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.1 pipelining over a real socket to a node on a real Redis: requests written back to back
 * in one write are answered in their order, also when the first waits for the store and the next
 * could be answered at once.
 */
class HttpPipeliningTest {
  private final AppBackend app = new AppBackend();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  @Test
  void requestsWrittenBackToBackAreAnsweredInTheirOrder() throws Exception {
    HandoffServer node =
        nodes.redis(
            RedisProcess.sharedUrl(), "n1", Clock.systemUTC(), b -> b.tokens(app.tokens().build()));
    // Well formed, so the node asks Redis about it before it answers.
    String refresh = "rt1.Ym9i.AAAAAAAAAAAAAAAAAAAAAA." + "A".repeat(43);
    String body = "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"" + refresh + "\"}";
    String requests =
        "POST /v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + body.length()
            + "\r\n\r\n"
            + body
            + "GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: 2\r\n\r\n{}";
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", node.port()), 5000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(requests.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      String first = response(in);
      assertTrue(first.startsWith("HTTP/1.1 400"), first);
      assertTrue(first.contains("invalid_grant"), first);
      String second = response(in);
      assertTrue(second.startsWith("HTTP/1.1 404"), second);
      String third = response(in);
      assertTrue(third.startsWith("HTTP/1.1 200"), third);
      assertTrue(third.endsWith("ok\n"), third);
      String fourth = response(in);
      assertTrue(fourth.startsWith("HTTP/1.1 400"), fourth);
      assertTrue(fourth.contains("grant_type is required"), fourth);
      s.setSoTimeout(300);
      assertEquals(-1, readOrTimeout(in), "nothing more than four answers");
    }
  }

  private static int readOrTimeout(InputStream in) throws IOException {
    try {
      return in.read();
    } catch (java.net.SocketTimeoutException e) {
      return -1;
    }
  }

  /** One response: its head and a body of its Content-Length. */
  private static String response(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed after " + head.toString(StandardCharsets.US_ASCII));
      }
      head.write(b);
    }
    String h = head.toString(StandardCharsets.US_ASCII);
    int length = 0;
    for (String line : h.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        length = Integer.parseInt(line.substring("content-length:".length()).trim());
      }
    }
    return h + new String(in.readNBytes(length), StandardCharsets.UTF_8);
  }
}
