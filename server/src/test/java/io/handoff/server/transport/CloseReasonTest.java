package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A close reason fits the 125-byte close frame whatever characters it holds. */
class CloseReasonTest {
  @Test
  void aShortReasonIsKeptWhole() {
    assertEquals("server shutting down", ConnectionHandler.closeReason("server shutting down"));
  }

  @Test
  void aLongReasonOfWideCharactersIsCutToTheFrameAtACharacterBoundary() {
    for (String c : new String[] {"a", "é", "€", "😀"}) {
      String reason = c.repeat(200);
      String cut = ConnectionHandler.closeReason(reason);
      int bytes = cut.getBytes(StandardCharsets.UTF_8).length;
      assertTrue(bytes <= ConnectionHandler.MAX_CLOSE_REASON_BYTES, c + ": " + bytes + " bytes");
      assertTrue(
          bytes > ConnectionHandler.MAX_CLOSE_REASON_BYTES - 4, c + ": cut short at " + bytes);
      assertTrue(
          reason.startsWith(cut) && cut.length() % c.length() == 0, c + ": split a character");
    }
  }
}
