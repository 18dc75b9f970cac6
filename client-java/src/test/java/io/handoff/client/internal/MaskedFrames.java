package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketException;

/**
 * The frames the scripted nodes of the client's socket tests exchange on a real socket: the
 * client's masked frames they read, the unmasked ones they write, and their wait for the client to
 * close.
 */
public final class MaskedFrames {
  private MaskedFrames() {}

  /** Reads one masked client frame whose first byte is {@code b0}; returns its unmasked payload. */
  public static byte[] readClientFrame(InputStream stream, int b0) throws IOException {
    DataInputStream in = new DataInputStream(stream);
    assertEquals(b0, in.readUnsignedByte());
    int b1 = in.readUnsignedByte();
    assertTrue((b1 & 0x80) != 0, "a client frame must be masked");
    int length = b1 & 0x7f;
    if (length == 126) {
      length = in.readUnsignedShort();
    } else if (length == 127) {
      length = (int) in.readLong();
    }
    byte[] mask = new byte[4];
    in.readFully(mask);
    byte[] payload = new byte[length];
    in.readFully(payload);
    for (int i = 0; i < length; i++) {
      payload[i] ^= mask[i & 3];
    }
    return payload;
  }

  /** An unmasked server frame whose first byte is {@code b0} (payload under 64 KiB). */
  public static byte[] serverFrame(int b0, byte[] payload) {
    ByteBuf b = Unpooled.buffer();
    b.writeByte(b0);
    if (payload.length < 126) {
      b.writeByte(payload.length);
    } else {
      b.writeByte(126).writeShort(payload.length);
    }
    b.writeBytes(payload);
    byte[] out = new byte[b.readableBytes()];
    b.readBytes(out);
    return out;
  }

  /**
   * Reads until the client closes (so the scripted node never closes first), with a FIN or a reset:
   * a client closed at a test's end while bytes of the node's were still unread in its socket
   * resets the connection, which is its close all the same.
   */
  public static void awaitEnd(InputStream in) throws IOException {
    try {
      while (in.read() >= 0) {
        // Discarded.
      }
    } catch (SocketException reset) {
      // Closed by the client, with a reset.
    }
  }
}
