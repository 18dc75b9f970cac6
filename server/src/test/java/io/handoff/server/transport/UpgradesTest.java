package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;

/**
 * The node's own upgrade answer when the connection's HTTP handlers are already gone (the device
 * left while its device session was checked): nothing is written and the request is released. And a
 * request that Netty's handlers fail on is released too.
 */
class UpgradesTest {

  @Test
  void upgradeOfAConnectionWhoseHttpHandlersAreGoneWritesNothingAndReleasesTheRequest() {
    EmbeddedChannel ch = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
    ChannelHandlerContext ctx = ch.pipeline().firstContext();
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    req.headers()
        .set(HttpHeaderNames.UPGRADE, "websocket")
        .set(HttpHeaderNames.CONNECTION, "Upgrade")
        .set(HttpHeaderNames.SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        .set(HttpHeaderNames.SEC_WEBSOCKET_VERSION, "13");

    new Upgrades(false, p -> {}, null, new UpgradeRefusals(new LongAdder())).upgrade(ctx, req);

    assertEquals(0, req.refCnt());
    assertNull(ch.readOutbound());
    ch.finishAndReleaseAll();
  }

  /**
   * Netty's permessage-deflate handshaker fails on a client_max_window_bits that is no number, in
   * its extension handler, which then neither passes the request on nor releases it.
   */
  @Test
  void aRequestNettysExtensionHandlerFailsOnIsReleased() {
    List<Throwable> failures = new ArrayList<>();
    EmbeddedChannel ch =
        new EmbeddedChannel(
            new ChannelInboundHandlerAdapter(),
            new ChannelInboundHandlerAdapter() {
              @Override
              public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                failures.add(cause);
              }
            });
    ChannelHandlerContext ctx = ch.pipeline().firstContext();
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    req.headers()
        .set(HttpHeaderNames.UPGRADE, "websocket")
        .set(HttpHeaderNames.CONNECTION, "Upgrade")
        .set(HttpHeaderNames.SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        .set(HttpHeaderNames.SEC_WEBSOCKET_VERSION, "13")
        .set(
            HttpHeaderNames.SEC_WEBSOCKET_EXTENSIONS,
            "permessage-deflate; client_max_window_bits=ten");

    new Upgrades(
            true,
            p ->
                p.addAfter(
                        ctx.name(),
                        "wsCompression",
                        HandoffChannelInitializer.compression(64 * 1024))
                    .addAfter("wsCompression", "ws", new WebSocketServerProtocolHandler("/ws")),
            null,
            new UpgradeRefusals(new LongAdder()))
        .upgrade(ctx, req);

    assertEquals(1, failures.size(), failures.toString());
    assertEquals(NumberFormatException.class, failures.get(0).getClass());
    assertEquals(0, req.refCnt());
    ch.finishAndReleaseAll();
  }
}
