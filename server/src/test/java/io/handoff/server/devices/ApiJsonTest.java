package io.handoff.server.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.AppBackend;
import io.handoff.server.HttpApi;
import io.handoff.server.TestServer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The {@code /v1} API's JSON: what it reads, the limits it reads under, and what it says. */
class ApiJsonTest {
  private static Map<String, String> parse(String text) throws ApiJson.BadJson {
    return ApiJson.parseFlatObject(text.getBytes(StandardCharsets.UTF_8));
  }

  private static String refused(String text) {
    return assertThrows(ApiJson.BadJson.class, () -> parse(text)).getMessage();
  }

  @Test
  void flatObjectIsReadWithEveryScalarAsText() throws Exception {
    Map<String, String> m =
        parse("{\"a\":\"x\\u00e9\",\"n\":42,\"f\":1.5,\"t\":true,\"z\":null,\"e\":\"\"}");
    assertEquals("xé", m.get("a"));
    assertEquals("42", m.get("n"));
    assertEquals("1.5", m.get("f"));
    assertEquals("true", m.get("t"));
    assertTrue(m.containsKey("z") && m.get("z") == null);
    assertEquals("", m.get("e"));
  }

  @Test
  void badBodiesAreRefusedWithAMessageThatSaysWhatToChange() {
    assertTrue(refused("[1]").contains("must be a JSON object"), refused("[1]"));
    assertTrue(refused("{\"a\":[1,2]}").contains("'a' must be a string"));
    assertTrue(refused("{\"a\":{\"b\":1}}").contains("not an object"));
    assertTrue(
        refused("{\"a\":1,\"a\":2}").contains("Duplicate field 'a'"), refused("{\"a\":1,\"a\":2}"));
    assertTrue(refused("{\"a\":1} {}").contains("more after the object"));
    assertTrue(refused("{\"a\":").contains("not valid JSON at line 1"), refused("{\"a\":"));
    // Nesting stops at the first level: the flat reader refuses any array or object member.
    String deep = "{\"a\":" + "[".repeat(50) + "]".repeat(50) + "}";
    assertTrue(refused(deep).contains("not an array"), refused(deep));
    String longString = "{\"a\":\"" + "x".repeat(ApiJson.MAX_STRING_CHARS + 1) + "\"}";
    assertTrue(refused(longString).contains("String value length"), refused(longString));
    String big = "{\"a\":\"" + "x".repeat(ApiJson.MAX_BODY_BYTES) + "\"}";
    assertTrue(refused(big).contains("limit is " + ApiJson.MAX_BODY_BYTES), refused(big));
    StringBuilder many = new StringBuilder("{");
    for (int i = 0; i <= ApiJson.MAX_FIELDS; i++) {
      many.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":1");
    }
    assertTrue(refused(many + "}").contains("more than " + ApiJson.MAX_FIELDS + " members"));
  }

  @Test
  void unauthenticatedBadJsonGetsA400ThatSaysWhy() throws Exception {
    AppBackend app = new AppBackend();
    try (TestServer server = TestServer.start(b -> b.tokens(app.tokens().build()))) {
      HttpApi api = new HttpApi(server.port());
      String longName =
          "{\"identity_token\":\"x\",\"device_id\":\"d\",\"device_name\":\""
              + "n".repeat(ApiJson.MAX_STRING_CHARS + 1)
              + "\"}";
      HttpApi.Answer a = api.post("/v1/sessions", longName);
      assertEquals(400, a.status(), a.toString());
      assertEquals("invalid_request", a.field("error"));
      assertTrue(a.field("message").contains("beyond a limit"), a.toString());
      assertTrue(a.field("message").contains("String value length"), a.toString());
      HttpApi.Answer dup = api.post("/v1/sessions", "{\"device_id\":\"a\",\"device_id\":\"b\"}");
      assertEquals(400, dup.status(), dup.toString());
      assertTrue(dup.field("message").contains("Duplicate field 'device_id'"), dup.toString());
    }
  }
}
