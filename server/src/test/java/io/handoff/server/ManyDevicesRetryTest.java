package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import org.junit.jupiter.api.Test;

/**
 * Promise 2 on the embedded in-memory engine over a real socket, however many device ids a user
 * goes through (development tokens name any; a browser that clears its storage gets a new one): a
 * device's write is remembered while it could be re-sent, never forgotten for other devices, and a
 * device past the documented bound is refused with a code the clients give up on at once.
 */
class ManyDevicesRetryTest {
  @Test
  void aReSentWriteIsTheSameWriteAfterMoreThanMaxDevicesOtherDevicesWrote() throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    try (TestServer server = TestServer.start(b -> b.storeLimits(limits))) {
      Ack first;
      try (TestDevice phone = TestDevice.connect(server.port(), TestServer.token("ann", "d0"))) {
        phone.hello();
        first = phone.answerTo(phone.write("cart", 1, "f", "d0")).getAck();
      }
      for (int i = 1; i <= limits.maxDevicesPerUser(); i++) {
        try (TestDevice d = TestDevice.connect(server.port(), TestServer.token("ann", "d" + i))) {
          d.hello();
          assertTrue(d.answerTo(d.write("cart", 1, "f", "d" + i)).hasAck(), "device " + i);
        }
      }
      try (TestDevice phone = TestDevice.connect(server.port(), TestServer.token("ann", "d0"))) {
        assertEquals(1, phone.hello().getWelcome().getLastClientSeq(), "d0's write is known");
        ServerFrame again = phone.answerTo(phone.write("cart", 1, "f", "d0"));
        assertTrue(again.hasAck(), again.toString());
        assertTrue(again.getAck().getDuplicate(), "the same write, not a new one: " + again);
        assertEquals(first.getVersion(), again.getAck().getVersion());
      }
    }
  }

  @Test
  void aDeviceBeyondTheBoundIsRefusedLimitExceededNotRetryableAndNothingIsApplied()
      throws Exception {
    StoreLimits limits = StoreLimits.builder().maxDevicesPerUser(1).build();
    int max = limits.maxWritingDevicesPerUser();
    try (TestServer server = TestServer.start(b -> b.storeLimits(limits))) {
      for (int i = 0; i < max; i++) {
        try (TestDevice d = TestDevice.connect(server.port(), TestServer.token("bob", "d" + i))) {
          d.hello();
          assertTrue(d.answerTo(d.write("cart", 1, "f", "d" + i)).hasAck(), "device " + i);
        }
      }
      try (TestDevice late = TestDevice.connect(server.port(), TestServer.token("bob", "late"))) {
        late.hello();
        ServerFrame answer = late.answerTo(late.write("cart", 1, "f", "late"));
        assertTrue(answer.hasError(), answer.toString());
        Error e = answer.getError();
        assertEquals(ErrorCode.LIMIT_EXCEEDED, e.getCode());
        assertFalse(e.getRetryable(), "re-sending cannot change it");
        assertEquals(1, e.getClientSeq());
        assertTrue(e.getMessage().contains("max-devices"), e.getMessage());
        // The store has no record of late's writes: had late sent this number before its record
        // expired, that send may have been applied, and a client that never learnt its fate must
        // not report it as certainly refused.
        assertTrue(e.getNoWriteRecord(), e.toString());
      }
      try (TestDevice d0 = TestDevice.connect(server.port(), TestServer.token("bob", "d0"))) {
        d0.hello();
        ServerFrame again = d0.answerTo(d0.write("cart", 1, "f", "d0"));
        assertTrue(again.getAck().getDuplicate(), again.toString());
        Ack next = d0.answerTo(d0.write("cart", 2, "f", "d0 again")).getAck();
        assertEquals(max + 1, next.getVersion(), "the refused write took no version");
        long stale =
            d0.send(ClientFrame.newBuilder().setWrite(Writes.set("cart", 3, "f", "stale", 1L)));
        Error conflict = d0.answerTo(stale).getError();
        assertEquals(ErrorCode.CONFLICT, conflict.getCode(), conflict.toString());
        assertFalse(conflict.getNoWriteRecord(), "d0 has a record: " + conflict);
      }
    }
  }
}
