package io.handoff.server.devices;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The JSON of the {@code /v1} device-session API, read and written with Jackson. Request bodies
 * come before authentication, so they are read under tight limits ({@link StreamReadConstraints}):
 * at most {@value #MAX_BODY_BYTES} bytes, {@value #MAX_DEPTH} levels of nesting, {@value
 * #MAX_STRING_CHARS} characters per string, {@value #MAX_FIELDS} members, no duplicate member.
 * Anything else is refused with a {@link BadJson} whose message says what to change. Thread-safe.
 */
public final class ApiJson {
  /** The largest request body read; the HTTP aggregator refuses larger ones with 413 first. */
  public static final int MAX_BODY_BYTES = 8192;

  static final int MAX_DEPTH = 4;
  static final int MAX_STRING_CHARS = 4096 + 256;
  static final int MAX_FIELDS = 32;

  private static final JsonFactory FACTORY =
      JsonFactory.builder()
          .streamReadConstraints(
              StreamReadConstraints.builder()
                  .maxDocumentLength(MAX_BODY_BYTES)
                  .maxNestingDepth(MAX_DEPTH)
                  .maxStringLength(MAX_STRING_CHARS)
                  .maxNameLength(256)
                  .maxNumberLength(32)
                  .build())
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .build();
  private static final ObjectMapper MAPPER = new ObjectMapper(FACTORY);

  private ApiJson() {}

  /** Why a body could not be read, in words a person can act on. */
  public static final class BadJson extends Exception {
    BadJson(String message) {
      super(message);
    }
  }

  /**
   * The members of one flat JSON object, each value as text: strings as they are, numbers and
   * booleans as written, null as null. Nested objects and arrays are refused.
   */
  public static Map<String, String> parseFlatObject(byte[] body) throws BadJson {
    if (body.length > MAX_BODY_BYTES) {
      throw new BadJson(
          "the body is " + body.length + " bytes; the limit is " + MAX_BODY_BYTES + " bytes");
    }
    try (JsonParser p = FACTORY.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new BadJson("the body must be a JSON object ({...})");
      }
      Map<String, String> out = new LinkedHashMap<>();
      for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
        String name = p.currentName();
        JsonToken v = p.nextToken();
        switch (v) {
          case VALUE_STRING, VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT, VALUE_TRUE, VALUE_FALSE ->
              out.put(name, p.getText());
          case VALUE_NULL -> out.put(name, null);
          default ->
              throw new BadJson(
                  "member '"
                      + name
                      + "' must be a string, number, boolean or null, not "
                      + kind(v));
        }
        if (out.size() > MAX_FIELDS) {
          throw new BadJson("the object has more than " + MAX_FIELDS + " members");
        }
      }
      if (p.nextToken() != null) {
        throw new BadJson("there is more after the object; send exactly one JSON object");
      }
      return out;
    } catch (StreamConstraintsException e) {
      throw new BadJson("the body is beyond a limit: " + e.getOriginalMessage());
    } catch (JsonProcessingException e) {
      throw new BadJson(
          "not valid JSON at line "
              + e.getLocation().getLineNr()
              + ", column "
              + e.getLocation().getColumnNr()
              + ": "
              + e.getOriginalMessage());
    } catch (IOException e) {
      throw new BadJson("the body could not be read: " + e.getMessage());
    }
  }

  private static String kind(JsonToken t) {
    return switch (t) {
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      default -> t.asString() == null ? t.name() : t.asString();
    };
  }

  /** A new empty object to fill and {@link #write}. */
  public static ObjectNode object() {
    return MAPPER.createObjectNode();
  }

  /** {@code node} as compact JSON text. */
  public static String write(ObjectNode node) {
    try {
      return MAPPER.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a JSON tree did not serialise", e);
    }
  }

  /** The API's error body: {@code {"error": code, "message": message}}. */
  public static String error(String code, String message) {
    return write(object().put("error", code).put("message", message));
  }
}
