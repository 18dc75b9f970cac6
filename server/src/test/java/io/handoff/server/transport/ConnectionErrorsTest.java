package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.handoff.server.CapturedLog;
import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An exception no handler of the HTTP stage expected (here a service that fails on a request) is
 * answered 500 {@code internal} in JSON on a real socket, which then closes; its warning is logged
 * once per ten seconds for the node, with how many went unlogged since, never once per request.
 */
class ConnectionErrorsTest {
  @RegisterExtension final CapturedLog logged = new CapturedLog(ConnectionHandler.class);

  @Test
  void anUnexpectedFailureBeforeTheUpgradeIsAnsweredFiveHundredAndLoggedOncePerTenSeconds()
      throws Exception {
    EventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    ServerStats stats = new ServerStats();
    FakeScheduler time = new FakeScheduler();
    HttpService failing =
        new HttpService() {
          @Override
          public boolean handles(String path) {
            return path.equals("/v1/me");
          }

          @Override
          public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
            throw new IllegalStateException("a bug of the service");
          }
        };
    HttpRequestHandler http =
        MovingUpgrades.httpHandler(
            token -> new Principal("alice", "phone", Long.MAX_VALUE),
            stats,
            time,
            failing,
            new Upgrades(false, p -> {}, null, new UpgradeRefusals(new LongAdder())));
    MovingUpgrades node =
        new MovingUpgrades(loops, loops, stats, time, MovingUpgrades.httpStage(time, http));
    try {
      for (int i = 0; i < 3; i++) {
        String answer = askAndReadToTheEnd(node);
        assertTrue(answer.startsWith("HTTP/1.1 500 Internal Server Error\r\n"), answer);
        assertTrue(answer.toLowerCase().contains("\r\nconnection: close\r\n"), answer);
        assertTrue(
            answer.endsWith(
                "{\"error\":\"internal\",\"message\":\"the node failed on"
                    + " this request (an internal error, logged); try again later\"}\n"),
            answer);
      }
      List<ILoggingEvent> warnings = warnings();
      assertEquals(1, warnings.size(), warnings.toString());
      assertEquals(
          "a bug of the service", warnings.get(0).getThrowableProxy().getMessage(), "its cause");

      time.advance(ConnectionErrors.LOG_EVERY);
      askAndReadToTheEnd(node);
      warnings = warnings();
      assertEquals(2, warnings.size(), warnings.toString());
      assertTrue(
          warnings.get(1).getFormattedMessage().endsWith("(and 2 more since the last such line)"),
          warnings.get(1).getFormattedMessage());
    } finally {
      node.listener.close().sync();
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }

  private List<ILoggingEvent> warnings() {
    return logged.events().stream().filter(e -> e.getLevel() == Level.WARN).toList();
  }

  /** Asks the failing service on a new connection; returns all the node sent until it closed. */
  private static String askAndReadToTheEnd(MovingUpgrades node) throws Exception {
    try (Socket device = new Socket()) {
      device.setSoTimeout(10_000);
      node.connect(device);
      device
          .getOutputStream()
          .write("GET /v1/me HTTP/1.1\r\nHost: node\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      InputStream in = device.getInputStream();
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      in.transferTo(all);
      return all.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IOException("no answer", e);
    }
  }
}
