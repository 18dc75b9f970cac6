import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Write;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * One write, as a device sends it: {@code java -cp SERVER_JAR ResendWrite.java PORT SECRET USER
 * DEVICE DOCUMENT CLIENT_SEQ VALUE [EXPECTED_VERSION]} connects to the node on 127.0.0.1:PORT with
 * an HS256 token of USER and DEVICE signed with SECRET, says Hello, sends one Write (field "f" set
 * to VALUE) and prints the answer on one line: {@code ANSWER ack ...} or {@code ANSWER error ...}.
 * Sent twice with one CLIENT_SEQ through two nodes, it is a device re-sending a write after a
 * reconnect. Used by mixed_versions.sh; needs only the JDK and the classes in the server jar.
 */
public class ResendWrite {
  public static void main(String[] a) throws Exception {
    String port = a[0], secret = a[1], user = a[2], device = a[3], doc = a[4], value = a[6];
    long seq = Long.parseLong(a[5]);
    long expected = a.length > 7 ? Long.parseLong(a[7]) : -1;
    BlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();
    WebSocket ws =
        HttpClient.newHttpClient()
            .newWebSocketBuilder()
            .header("Authorization", "Bearer " + token(secret, user, device))
            .buildAsync(URI.create("ws://127.0.0.1:" + port + "/ws"), listener(frames))
            .get(10, TimeUnit.SECONDS);
    send(ws, ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
    await(frames, f -> f.getRequestId() == 1, "Welcome");
    Write.Builder write =
        Write.newBuilder()
            .setDocument(doc)
            .setClientSeq(seq)
            .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8(value)));
    if (expected >= 0) {
      write.setExpectedVersion(expected);
    }
    send(ws, ClientFrame.newBuilder().setRequestId(2).setWrite(write).build());
    ServerFrame answer = await(frames, f -> f.hasAck() || f.hasError(), "Ack or Error");
    String text = answer.hasAck() ? "ack " + answer.getAck() : "error " + answer.getError();
    System.out.println("ANSWER " + text.replace('\n', ' ').trim());
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
    System.exit(0);
  }

  /** An HS256 token of {@code user} and {@code device}, valid for ten minutes. */
  static String token(String secret, String user, String device) throws Exception {
    long exp = System.currentTimeMillis() / 1000 + 600;
    String head = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    String claims =
        b64("{\"sub\":\"" + user + "\",\"did\":\"" + device + "\",\"exp\":" + exp + "}");
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
    byte[] signature = mac.doFinal((head + "." + claims).getBytes(StandardCharsets.UTF_8));
    return head + "." + claims + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(signature);
  }

  static String b64(String s) {
    return Base64.getUrlEncoder()
        .withoutPadding()
        .encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static WebSocket.Listener listener(BlockingQueue<ServerFrame> frames) {
    return new WebSocket.Listener() {
      final ByteArrayOutputStream frame = new ByteArrayOutputStream();

      @Override
      public CompletionStage<?> onBinary(WebSocket w, ByteBuffer data, boolean last) {
        byte[] b = new byte[data.remaining()];
        data.get(b);
        frame.writeBytes(b);
        if (last) {
          try {
            frames.add(ServerFrame.parseFrom(frame.toByteArray()));
          } catch (Exception e) {
            e.printStackTrace();
          }
          frame.reset();
        }
        w.request(1);
        return null;
      }
    };
  }

  static void send(WebSocket ws, ClientFrame f) throws Exception {
    ws.sendBinary(ByteBuffer.wrap(f.toByteArray()), true).get(5, TimeUnit.SECONDS);
  }

  /** The first frame that passes {@code p}, within 20 s. */
  static ServerFrame await(BlockingQueue<ServerFrame> q, Predicate<ServerFrame> p, String what)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      ServerFrame f = q.poll(1, TimeUnit.SECONDS);
      if (f != null && p.test(f)) {
        return f;
      }
    }
    throw new IllegalStateException("no " + what + " within 20 s");
  }
}
