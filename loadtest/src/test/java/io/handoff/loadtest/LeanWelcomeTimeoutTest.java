package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.netty.channel.EventLoopGroup;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A lean device whose node never answers is not held for the rest of the run: against a real socket
 * on 127.0.0.1 that accepts and then answers nothing, the upgrade's own timeout ends the attempt;
 * against one that answers the upgrade with a 101 and then nothing, no Welcome coming ends it
 * ({@link WelcomeWait}), counted as an error that says so. Either way the device tries again, after
 * its backoff. Both waits are the run's connect timeout here (1 s).
 */
class LeanWelcomeTimeoutTest {
  private static final long BOUND_SECONDS = 30;
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(1);

  private final EventLoopGroup group = HandoffClient.newEventLoopGroup(1);
  private final Stats stats = new Stats();
  private final Device device = new Device(0, 0, 0, 1, new DocLog[] {new DocLog()}, stats, false);
  private SilentNode node;
  private LeanLink link;

  @AfterEach
  void stop() throws IOException {
    if (link != null) {
      link.close();
    }
    group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    if (node != null) {
      node.close();
    }
  }

  @Test
  @Timeout(120)
  void aNodeThatUpgradesAndNeverWelcomesCountsAnErrorAndIsTriedAgain() throws Exception {
    node = new SilentNode(true);
    link = link(node.url());
    link.connect();

    Socket first = node.accepted.poll(BOUND_SECONDS, TimeUnit.SECONDS);
    assertNotNull(first, "no attempt");
    Socket second = node.accepted.poll(BOUND_SECONDS, TimeUnit.SECONDS);
    assertNotNull(second, "no second attempt: the device still waits for the first's Welcome");
    assertEquals(-1, readToEnd(first), "the first attempt was not cut");
    assertEquals(1, stats.clientErrors.sum(), "errors counted " + stats.samples());
    assertEquals(
        List.of(
            "device 0: no Welcome within 1000 ms of the 101 from " + node.url() + "; reconnecting"),
        stats.samples());
  }

  @Test
  @Timeout(120)
  void aNodeThatAcceptsAndNeverAnswersTheUpgradeIsTriedAgain() throws Exception {
    node = new SilentNode(false);
    link = link(node.url());
    link.connect();

    assertNotNull(node.accepted.poll(BOUND_SECONDS, TimeUnit.SECONDS), "no attempt");
    assertNotNull(
        node.accepted.poll(BOUND_SECONDS, TimeUnit.SECONDS),
        "no second attempt: the device still waits for the first's 101");
    // A connect that failed, retried as any other: not an error of the run.
    assertTrue(stats.connectRetries.sum() >= 1, "no retry counted");
    assertEquals(0, stats.clientErrors.sum(), "errors counted " + stats.samples());
  }

  private LeanLink link(URI url) {
    return new LeanLink(
        device,
        group.next(),
        List.of(url),
        null,
        "token-of-no-consequence",
        "lean-welcome-timeout-test",
        CONNECT_TIMEOUT,
        64,
        1,
        System::nanoTime);
  }

  /** Reads what is left of {@code s} until its end: -1 once the peer closed or cut it. */
  private static int readToEnd(Socket s) throws IOException {
    s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(BOUND_SECONDS));
    InputStream in = s.getInputStream();
    try {
      while (in.read() >= 0) {
        // The Hello frame, then nothing.
      }
    } catch (IOException e) {
      if (e instanceof java.net.SocketTimeoutException) {
        throw e;
      }
      // Reset by the peer: cut.
    }
    return -1;
  }

  /**
   * A socket on 127.0.0.1 port 0 that accepts every connection and keeps it; with {@code upgrade},
   * it answers each upgrade request with a 101 (without the subprotocol: the Hello then comes as a
   * frame) and then nothing, else nothing at all.
   */
  private static final class SilentNode implements AutoCloseable {
    final BlockingQueue<Socket> accepted = new LinkedBlockingQueue<>();
    private final ServerSocket listener;
    private final boolean upgrade;

    SilentNode(boolean upgrade) throws IOException {
      this.upgrade = upgrade;
      this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      Thread t = new Thread(this::accept, "silent-node");
      t.setDaemon(true);
      t.start();
    }

    URI url() {
      return URI.create("ws://127.0.0.1:" + listener.getLocalPort() + "/ws");
    }

    private void accept() {
      try {
        while (true) {
          Socket s = listener.accept();
          if (upgrade) {
            answer101(s);
          }
          accepted.add(s);
        }
      } catch (Exception e) {
        // Closed.
      }
    }

    private static void answer101(Socket s) throws Exception {
      String key = null;
      for (String line : readHead(s.getInputStream()).split("\r\n")) {
        if (line.toLowerCase(Locale.ROOT).startsWith("sec-websocket-key:")) {
          key = line.substring(line.indexOf(':') + 1).trim();
        }
      }
      byte[] sha1 =
          MessageDigest.getInstance("SHA-1")
              .digest(
                  (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                      .getBytes(StandardCharsets.US_ASCII));
      String response =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              + "Sec-WebSocket-Accept: "
              + Base64.getEncoder().encodeToString(sha1)
              + "\r\n\r\n";
      s.getOutputStream().write(response.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
    }

    private static String readHead(InputStream in) throws IOException {
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
        int c = in.read();
        if (c < 0) {
          throw new IOException("closed before the head ended");
        }
        head.write(c);
      }
      return head.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
      listener.close();
      for (Socket s : accepted) {
        s.close();
      }
    }
  }
}
