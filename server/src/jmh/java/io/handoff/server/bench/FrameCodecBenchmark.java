package io.handoff.server.bench;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.FrameCodec;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What every delivery pays in the frame codec: a delta (encoded once per write, copied into each
 * connection's buffer with its WebSocket header) and an ack (encoded straight into the buffer).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FrameCodecBenchmark {
  private EmbeddedChannel channel;
  private byte[] delta;
  private ServerFrame ack;

  @Setup
  public void setUp() {
    channel = new EmbeddedChannel(FrameCodec.FRAMING);
    delta = Frames.delta(256).frame();
    ack =
        ServerFrame.newBuilder()
            .setRequestId(42)
            .setAck(
                Ack.newBuilder()
                    .setDocument("player")
                    .setClientSeq(1234)
                    .setEpoch(0x1234_5678_9abc_def0L)
                    .setVersion(5678)
                    .setFingerprint(0x0fed_cba9_8765_4321L))
            .build();
  }

  @TearDown
  public void tearDown() {
    channel.finishAndReleaseAll();
  }

  @Benchmark
  public int encodeDelta() {
    return writeAndRelease(delta);
  }

  @Benchmark
  public int encodeAck() {
    return writeAndRelease(ack);
  }

  private int writeAndRelease(Object frame) {
    channel.writeOutbound(frame);
    ByteBuf out = channel.readOutbound();
    int n = out.readableBytes();
    out.release();
    return n;
  }
}
