package io.handoff.server;

import io.handoff.server.auth.DevTokens;
import io.handoff.server.auth.JwksUnavailableException;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.sync.StoreUnavailableException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The launcher's start of a configured node, and what a supervisor is told when it cannot start:
 * one line on stderr and the exit code, {@link #INVALID} for what the operator must change (a port
 * in use, a node id another node holds, a refused value) and {@link #UNAVAILABLE} for what may pass
 * by itself (the store or the identity provider not answering), so that a supervisor starts the
 * node again.
 */
final class NodeStart {
  /** Invalid configuration: change it before starting again. */
  static final int INVALID = 2;

  /** Something the node needs did not answer: starting again may succeed. */
  static final int UNAVAILABLE = 3;

  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private NodeStart() {}

  /**
   * Starts the node and waits for it to end ({@link NodeRun#await}); or, when it cannot start, one
   * line on {@code err} and its exit code. {@code named} rewrites each {@code (--option)} of a
   * message to where its value came from; {@code origin} names one option so.
   */
  static int run(
      ServerConfig config,
      Engine engine,
      PrintWriter err,
      UnaryOperator<String> named,
      UnaryOperator<String> origin)
      throws InterruptedException {
    HandoffServer server;
    try {
      server = HandoffServer.start(config, engine);
    } catch (ListenException e) {
      engine.close();
      String option = "(--" + e.option() + ")";
      err.println(
          "handoff-server: "
              + e.getMessage().replace(option, "(" + origin.apply(e.option()) + ")"));
      return INVALID;
    } catch (IllegalArgumentException e) {
      engine.close();
      err.println("handoff-server: invalid configuration: " + named.apply(e.getMessage()));
      return INVALID;
    } catch (NodeIdInUseException e) {
      engine.close();
      err.println(
          "handoff-server: " + e.getMessage().replace("--node-id", origin.apply("node-id")));
      return INVALID;
    } catch (StoreUnavailableException e) {
      engine.close();
      err.println("handoff-server: " + e.getMessage());
      return UNAVAILABLE;
    } catch (JwksUnavailableException e) {
      engine.close();
      err.println(
          "handoff-server: "
              + named.apply(e.getMessage())
              + " (exit code 3: the identity provider may answer later; if it does not, check"
              + " the URL)");
      return UNAVAILABLE;
    }
    log.info("Handoff node {} on port {}", config.nodeId(), server.port());
    log.info("Durability: {}", engine.durability());
    if (config.developmentOnly()) {
      log.warn("DEVELOPMENT secret (pass --jwt-secret for a real one): {}", config.jwtSecret());
      log.info(
          "Example token (user demo, device laptop, 24 h): {}",
          DevTokens.mint(config.jwtSecret(), "demo", "laptop", Duration.ofHours(24)));
    } else if (config.developmentSecret()) {
      // A node that signs devices in with its own keys: whoever reads its log must not be able to
      // mint tokens for any user, so the generated secret is told to no one.
      log.info(
          "development tokens are off: no --jwt-secret, and the node signs devices in"
              + " (--signing-key, --identity-jwks)");
    }
    return NodeRun.await(server, engine, err, m -> m.replace("--node-id", origin.apply("node-id")));
  }
}
