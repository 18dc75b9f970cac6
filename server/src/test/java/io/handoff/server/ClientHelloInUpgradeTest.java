package io.handoff.server;

import static io.handoff.server.HttpHeads.header;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.v1.ClientFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client's Hello in the upgrade against a real node, through a relay on 127.0.0.1 that
 * records the bytes each way: the request carries the Hello, the 101 says the node read it, and the
 * client's first frame is its first write, not a Hello (which the node would refuse as one too
 * many).
 */
class ClientHelloInUpgradeTest {
  private TestServer server;
  private Relay relay;
  private HandoffClient client;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
    relay = new Relay(server.port());
  }

  @AfterEach
  void stop() throws IOException {
    if (client != null) {
      client.close();
    }
    relay.close();
    server.close();
  }

  @Test
  void theClientsHelloGoesInTheUpgradeAndNotAsAFrame() throws Exception {
    List<HandoffException> errors = new CopyOnWriteArrayList<>();
    client =
        TestServer.clientBuilder(relay.url(), "hello-user", "phone")
            .listener(
                new HandoffListener() {
                  @Override
                  public void onError(HandoffException error) {
                    errors.add(error);
                  }
                })
            .build();
    client.connect().get(10, TimeUnit.SECONDS);
    // Acked: the node read every frame before the write, and answered any of them before this.
    client.document("cart").set("item", new byte[] {1}).get(10, TimeUnit.SECONDS);
    assertEquals(List.of(), errors);

    byte[] up = relay.upstream();
    int headEnd = indexOf(up, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII)) + 4;
    String request = new String(up, 0, headEnd, StandardCharsets.US_ASCII);
    String hello = header(request, "handoff-hello");
    assertTrue(hello != null, request);
    ClientFrame early = ClientFrame.parseFrom(Base64.getUrlDecoder().decode(hello));
    assertTrue(early.hasHello(), early.toString());
    String response = new String(relay.downstream(), StandardCharsets.ISO_8859_1);
    String head = response.substring(0, response.indexOf("\r\n\r\n") + 2);
    assertEquals("handoff.hello", header(head, "sec-websocket-protocol"), head);

    List<ClientFrame> frames = clientFrames(up, headEnd);
    assertFalse(frames.isEmpty(), "no frame from the client");
    assertTrue(frames.stream().noneMatch(ClientFrame::hasHello), frames.toString());
    assertTrue(frames.get(0).hasWrite(), frames.get(0).toString());
  }

  private static int indexOf(byte[] b, byte[] marker) {
    for (int i = 0; i + marker.length <= b.length; i++) {
      if (ByteBuffer.wrap(b, i, marker.length).equals(ByteBuffer.wrap(marker))) {
        return i;
      }
    }
    throw new AssertionError("no end of the upgrade request");
  }

  /** The binary client frames (masked) in {@code b} from {@code at}, whole ones only. */
  private static List<ClientFrame> clientFrames(byte[] b, int at) throws IOException {
    List<ClientFrame> frames = new ArrayList<>();
    while (at + 6 <= b.length) {
      int opcode = b[at] & 0x0f;
      int length = b[at + 1] & 0x7f;
      int header = 2;
      if (length == 126) {
        length = ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
        header = 4;
      } else if (length == 127) {
        length = (int) ByteBuffer.wrap(b, at + 2, 8).getLong();
        header = 10;
      }
      int from = at + header + 4;
      if (from + length > b.length) {
        break;
      }
      byte[] payload = new byte[length];
      for (int i = 0; i < length; i++) {
        payload[i] = (byte) (b[from + i] ^ b[at + header + (i & 3)]);
      }
      if (opcode == 0x2) {
        frames.add(ClientFrame.parseFrom(payload));
      }
      at = from + length;
    }
    return frames;
  }

  /** A TCP relay for one connection at a time that keeps every byte it forwards, each way. */
  private static final class Relay implements AutoCloseable {
    private final ServerSocket listener;
    private final int target;
    private final ByteArrayOutputStream up = new ByteArrayOutputStream();
    private final ByteArrayOutputStream down = new ByteArrayOutputStream();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    Relay(int target) throws IOException {
      this.target = target;
      this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      Thread t = new Thread(this::accept, "relay-accept");
      t.setDaemon(true);
      t.start();
    }

    String url() {
      return "ws://127.0.0.1:" + listener.getLocalPort() + "/ws";
    }

    byte[] upstream() {
      synchronized (up) {
        return up.toByteArray();
      }
    }

    byte[] downstream() {
      synchronized (down) {
        return down.toByteArray();
      }
    }

    private void accept() {
      try {
        while (true) {
          Socket client = listener.accept();
          Socket node = new Socket(InetAddress.getLoopbackAddress(), target);
          sockets.add(client);
          sockets.add(node);
          pump(client.getInputStream(), node.getOutputStream(), up);
          pump(node.getInputStream(), client.getOutputStream(), down);
        }
      } catch (IOException e) {
        // Closed.
      }
    }

    /** Copies {@code in} to {@code out}, keeping each byte in {@code record} before it goes. */
    private static void pump(InputStream in, OutputStream out, ByteArrayOutputStream record) {
      Thread t =
          new Thread(
              () -> {
                byte[] buf = new byte[8192];
                try {
                  for (int n; (n = in.read(buf)) >= 0; ) {
                    synchronized (record) {
                      record.write(buf, 0, n);
                    }
                    out.write(buf, 0, n);
                    out.flush();
                  }
                  out.close();
                } catch (IOException e) {
                  // One side closed.
                }
              },
              "relay-pump");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() throws IOException {
      listener.close();
      for (Socket s : sockets) {
        s.close();
      }
    }
  }
}
