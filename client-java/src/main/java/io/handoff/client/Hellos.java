package io.handoff.client;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import java.security.SecureRandom;

/**
 * The Hello that opens each connection of a {@link SyncEngine}: the follow set, the position of
 * every replica that has a version, and whether approval prompts are held, under {@link
 * SyncEngine#HELLO_REQUEST_ID}. Built once per attempt: when TCP is connected, for the upgrade
 * request; or at the 101, as the first frame, when the request carried none. A 101 that does not
 * say the node read the one of the request gets that very frame again ({@link
 * EarlyHellos.Attempt#unread}), never one built anew: something between may have dropped the
 * subprotocol from the 101 of a node that did read it, and that node answers nothing only to the
 * same bytes (a rebuilt Hello may list the positions in another order, the map of replicas having
 * grown meanwhile, or say prompts are held no more), and {@code UNEXPECTED_FRAME} to any other.
 *
 * <p>What it carries cannot change between the TCP connect and the 101 in a way that matters, so
 * the Hello of the request is as good as one built at the 101, but for the follow set, which the
 * app may change meanwhile: then the attempt is left ({@link Follows}). The client name is the
 * immutable config's; a replica's position moves only on a frame of the current connection (Delta,
 * Snapshot, Ack, SyncReport), and the attempt under way is that connection, which has delivered
 * none before its 101; prompts are shown (and so held) only on such frames too. What can change is
 * the end of the last carried prompt at its deadline (held true, then false): the node then sends
 * an ApprovalPromptsSent for no prompt, which ends no carried prompt, as for a deadline that passes
 * between a Hello frame and its Welcome.
 *
 * <p>Event loop only.
 */
final class Hellos {
  private static final SecureRandom RANDOM = new SecureRandom();

  private Hellos() {}

  /**
   * A client object's {@code Hello.instance}: random, never 0, not persisted, so two app instances
   * with the same device id differ. A REPLACED whose Disconnect names it came from an attempt of
   * this client's own ({@link Link#replacedByItsOwn}). Any thread.
   */
  static long instance() {
    long instance;
    do {
      instance = RANDOM.nextLong();
    } while (instance == 0);
    return instance;
  }

  static ClientFrame hello(
      String clientName,
      long instance,
      Follows.Spec follows,
      Replicas replicas,
      HandoffRequests handoff) {
    Hello.Builder hello = Hello.newBuilder().setClient(clientName).setInstance(instance);
    FollowSpec follow = follows.hello();
    if (follow != null) {
      hello.setFollow(follow);
    }
    replicas.positions(hello::addPositions);
    // Prompts held from before: the server then says when it has prompted again for every one
    // still waiting, and the others are withdrawn at once, not at their deadlines. In a Hello of
    // the upgrade it may be true no more at the 101 (see above): harmless.
    hello.setApprovalPromptsHeld(handoff.holdsApprovalPrompts());
    return ClientFrame.newBuilder()
        .setRequestId(SyncEngine.HELLO_REQUEST_ID)
        .setHello(hello)
        .build();
  }
}
