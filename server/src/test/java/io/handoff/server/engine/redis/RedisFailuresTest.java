package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.StoreUnavailableException;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisLoadingException;
import io.netty.channel.DefaultEventLoop;
import io.netty.util.concurrent.DefaultEventExecutor;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How Lettuce's failures (the exceptions it really throws) are read. */
class RedisFailuresTest {
  @Test
  void onlyFailuresWhereTheCommandCertainlyDidNotRunSayNotApplied() {
    assertInstanceOf(
        StoreUnavailableException.class,
        RedisFailures.classify(new RedisCommandExecutionException("ERR something")));
    assertInstanceOf(
        StoreUnavailableException.class,
        RedisFailures.classify(
            new CompletionException(new RedisConnectionException("Connection refused"))));
    assertInstanceOf(
        StoreUnavailableException.class,
        RedisFailures.classify(
            new RedisException("Currently not connected. Commands are rejected.")));
    assertInstanceOf(
        OutcomeUnknownException.class,
        RedisFailures.classify(new RedisCommandTimeoutException("Command timed out after 2s")));
    assertInstanceOf(
        OutcomeUnknownException.class,
        RedisFailures.classify(new RedisException("Connection closed")));
  }

  @Test
  void loadingAndFailoverRepliesAreTemporaryOtherErrorsAreNot() {
    assertTrue(
        RedisFailures.temporary(
            new RedisLoadingException("LOADING Redis is loading the dataset in memory")));
    assertTrue(RedisFailures.temporary(new RedisCommandExecutionException("TRYAGAIN Multiple")));
    assertTrue(
        RedisFailures.temporary(new RedisCommandExecutionException("CLUSTERDOWN Hash slot")));
    assertTrue(
        RedisFailures.temporary(new RedisCommandExecutionException("MOVED 3999 127.0.0.1:6381")));
    assertTrue(
        RedisFailures.temporary(
            new RedisException("Currently not connected. Commands are rejected.")));
    assertTrue(
        RedisFailures.temporary(
            new RedisCommandExecutionException(
                "ERR Error running script (call to f_e945a85c): @user_script:43: @user_script: 43:"
                    + " -READONLY You can't write against a read only replica.")),
        "a script on a demoted primary, as Redis 6 reports it");
    assertFalse(
        RedisFailures.temporary(
            new RedisCommandExecutionException(
                "ERR Error running script (call to f_e945a85c): @user_script:7: user_script:7:"
                    + " Script attempted to access a non local key")));
    assertFalse(RedisFailures.temporary(new RedisCommandExecutionException("ERR wrong type")));
    assertFalse(RedisFailures.temporary(new RedisCommandTimeoutException("timed out")));
  }

  @Test
  void aRetryDueOnALoopThatHasStoppedFailsTheCommandInsteadOfLeavingItUnanswered()
      throws Exception {
    DefaultEventExecutor timer = new DefaultEventExecutor();
    DefaultEventLoop loop = new DefaultEventLoop();
    try {
      RedisFailures failures =
          new RedisFailures(
              timer, Duration.ofSeconds(10), new StoreHealth("Redis", Duration.ofSeconds(1)));
      CompletableFuture<String> firstAttempt = new CompletableFuture<>();
      // Sent from the loop, so a retry would be scheduled on it.
      CompletableFuture<String> result = loop.submit(() -> failures.run(() -> firstAttempt)).get();
      loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();

      // Redis answers "loading" (temporary trouble) after the loop has stopped.
      firstAttempt.completeExceptionally(
          new RedisLoadingException("LOADING Redis is loading the dataset in memory"));

      ExecutionException failed =
          assertThrows(ExecutionException.class, () -> result.get(10, TimeUnit.SECONDS));
      assertInstanceOf(StoreUnavailableException.class, failed.getCause());
    } finally {
      loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      timer.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }
}
