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
import org.junit.jupiter.api.Test;

/**
 * The node's own upgrade answer when the connection's HTTP handlers are already gone (the device
 * left while its device session was checked): nothing is written and the request is released.
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

    new Upgrades(false, p -> {}, null).upgrade(ctx, req);

    assertEquals(0, req.refCnt());
    assertNull(ch.readOutbound());
    ch.finishAndReleaseAll();
  }
}
