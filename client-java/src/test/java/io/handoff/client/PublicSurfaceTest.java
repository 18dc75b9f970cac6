package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The client's entry point is its public API and nothing more: each public method of {@link
 * HandoffClient} is one an app may call for ever, so one added to it is added here on purpose.
 */
class PublicSurfaceTest {

  @Test
  void handoffClientDeclaresItsPublicMethodsAndNoOthers() {
    List<String> declared =
        Arrays.stream(HandoffClient.class.getDeclaredMethods())
            .filter(m -> Modifier.isPublic(m.getModifiers()) && !m.isSynthetic())
            .map(Method::getName)
            .sorted()
            .toList();
    assertEquals(
        List.of(
            "accept",
            "activities",
            "approvals",
            "builder",
            "cancel",
            "checkConnection",
            "close",
            "connect",
            "decline",
            "deviceId",
            "devices",
            "document",
            "dropConnection",
            "follow",
            "followAll",
            "lastVersion",
            "newEventLoopGroup",
            "offer",
            "presence",
            "prompts",
            "publishActivity",
            "revokeDevice",
            "revokeOtherDevices",
            "state",
            "toString",
            "unfollow",
            "userId",
            "writesResent"),
        declared);
  }
}
