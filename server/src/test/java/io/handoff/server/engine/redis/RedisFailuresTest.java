package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.StoreUnavailableException;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisLoadingException;
import java.util.concurrent.CompletionException;
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
    assertFalse(RedisFailures.temporary(new RedisCommandExecutionException("ERR wrong type")));
    assertFalse(RedisFailures.temporary(new RedisCommandTimeoutException("timed out")));
  }
}
