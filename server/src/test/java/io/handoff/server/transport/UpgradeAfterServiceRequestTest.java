package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A device that asks the HTTP API and then upgrades on the same keep-alive connection (an agent
 * that pools its sockets): what the API request added to the pipeline (the flow control that keeps
 * pipelined answers in order) leaves with the other HTTP handlers, and the upgraded connection is
 * the connection handler alone, as every other. Real NIO channels and loops, and the node's HTTP
 * handler.
 */
class UpgradeAfterServiceRequestTest {

  /** Version 13 is answered by the node itself, version 8 by Netty's handshaker. */
  @ParameterizedTest
  @ValueSource(strings = {"13", "8"})
  void anUpgradeAfterAServiceRequestOnItsConnectionLeavesOnlyTheConnectionHandler(String version)
      throws Exception {
    EventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    ServerStats stats = new ServerStats();
    FakeScheduler time = new FakeScheduler();
    HttpService api =
        new HttpService() {
          @Override
          public boolean handles(String path) {
            return path.equals("/v1/me");
          }

          @Override
          public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
            HttpService.answered(ctx.channel());
            DefaultFullHttpResponse res =
                new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
            HttpUtil.setContentLength(res, 0);
            ctx.writeAndFlush(res);
          }
        };
    HttpRequestHandler http =
        MovingUpgrades.httpHandler(
            token -> new Principal("alice", "phone", Long.MAX_VALUE),
            stats,
            time,
            api,
            new Upgrades(
                false,
                p ->
                    p.addBefore(
                            HandoffChannelInitializer.CONNECTION,
                            HandoffChannelInitializer.WS_HANDLER,
                            new WebSocketServerProtocolHandler(
                                WebSocketServerProtocolConfig.newBuilder()
                                    .websocketPath(HttpRequestHandler.WS_PATH)
                                    // As the node's: no UTF-8 validator (text frames are refused).
                                    .decoderConfig(
                                        WebSocketDecoderConfig.newBuilder()
                                            .withUTF8Validator(false)
                                            .build())
                                    .build()))
                        .addBefore(
                            HandoffChannelInitializer.CONNECTION,
                            HandoffChannelInitializer.CODEC,
                            FrameCodec.INSTANCE),
                null,
                new UpgradeRefusals(new java.util.concurrent.atomic.LongAdder())));
    MovingUpgrades node =
        new MovingUpgrades(loops, loops, stats, time, MovingUpgrades.httpStage(time, http));
    try (Socket device = new Socket()) {
      device.setSoTimeout(10_000);
      Channel ch = node.connect(device);
      String api204 = exchange(device, "GET /v1/me HTTP/1.1\r\nHost: node\r\n\r\n");
      assertTrue(api204.startsWith("HTTP/1.1 204 "), api204);
      String upgraded =
          exchange(
              device,
              "GET /ws HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
                  + version
                  + "\r\n"
                  + "Authorization: Bearer t\r\n\r\n");
      assertTrue(upgraded.startsWith("HTTP/1.1 101 "), upgraded);
      List<String> names =
          ch.eventLoop()
              .submit(
                  () ->
                      ch.pipeline().names().stream()
                          .filter(n -> !n.startsWith("DefaultChannelPipeline"))
                          .toList())
              .get(10, TimeUnit.SECONDS);
      assertEquals(List.of(HandoffChannelInitializer.CONNECTION), names);
    } finally {
      node.listener.close().sync();
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }

  /** Writes {@code request} and reads the answer's head, up to and with its blank line. */
  private static String exchange(Socket device, String request) throws IOException {
    device.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
    device.getOutputStream().flush();
    InputStream in = device.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("EOF in the answer: " + head);
      }
      head.write(c);
      matched = (c == '\r' || c == '\n') ? matched + 1 : 0;
    }
    return head.toString(StandardCharsets.US_ASCII);
  }
}
