package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;

/** What the scripted nodes of the client's socket tests read: the client's masked frames. */
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
}
