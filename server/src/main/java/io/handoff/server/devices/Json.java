package io.handoff.server.devices;

import io.handoff.server.transport.HttpRequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The little JSON the device-session API needs: parsing one flat object whose values are strings,
 * booleans, numbers or null (anything else is refused with a message), and quoting strings for the
 * responses, which are built by hand. Stateless.
 */
final class Json {
  static final int MAX_FIELDS = 32;

  private Json() {}

  /** The members of a flat JSON object, values as strings (null for JSON null). */
  static Map<String, String> parseFlatObject(String text) {
    Parser p = new Parser(text);
    p.ws();
    p.expect('{');
    Map<String, String> out = new LinkedHashMap<>();
    p.ws();
    if (p.peek() == '}') {
      p.pos++;
    } else {
      while (true) {
        p.ws();
        String key = p.string();
        p.ws();
        p.expect(':');
        p.ws();
        out.put(key, p.value());
        if (out.size() > MAX_FIELDS) {
          throw new IllegalArgumentException("more than " + MAX_FIELDS + " members");
        }
        p.ws();
        char c = p.next();
        if (c == '}') {
          break;
        }
        if (c != ',') {
          throw new IllegalArgumentException("expected ',' or '}' at " + (p.pos - 1));
        }
      }
    }
    p.ws();
    if (p.pos != text.length()) {
      throw new IllegalArgumentException("text after the object at " + p.pos);
    }
    return out;
  }

  static String quote(String s) {
    return s == null ? "null" : "\"" + HttpRequestHandler.jsonEscape(s) + "\"";
  }

  private static final class Parser {
    final String s;
    int pos;

    Parser(String s) {
      this.s = s;
    }

    char peek() {
      if (pos >= s.length()) {
        throw new IllegalArgumentException("unexpected end of JSON");
      }
      return s.charAt(pos);
    }

    char next() {
      char c = peek();
      pos++;
      return c;
    }

    void expect(char c) {
      if (next() != c) {
        throw new IllegalArgumentException("expected '" + c + "' at " + (pos - 1));
      }
    }

    void ws() {
      while (pos < s.length() && " \t\r\n".indexOf(s.charAt(pos)) >= 0) {
        pos++;
      }
    }

    String value() {
      char c = peek();
      if (c == '"') {
        return string();
      }
      if (s.startsWith("true", pos)) {
        pos += 4;
        return "true";
      }
      if (s.startsWith("false", pos)) {
        pos += 5;
        return "false";
      }
      if (s.startsWith("null", pos)) {
        pos += 4;
        return null;
      }
      int start = pos;
      while (pos < s.length() && "+-0123456789.eE".indexOf(s.charAt(pos)) >= 0) {
        pos++;
      }
      if (start == pos) {
        throw new IllegalArgumentException(
            "only strings, numbers, booleans and null are accepted as values (at " + start + ")");
      }
      return s.substring(start, pos);
    }

    String string() {
      expect('"');
      StringBuilder b = new StringBuilder();
      while (true) {
        char c = next();
        if (c == '"') {
          return b.toString();
        }
        if (c < 0x20) {
          throw new IllegalArgumentException("control character in a string at " + (pos - 1));
        }
        if (c != '\\') {
          b.append(c);
          continue;
        }
        char e = next();
        switch (e) {
          case '"', '\\', '/' -> b.append(e);
          case 'b' -> b.append('\b');
          case 'f' -> b.append('\f');
          case 'n' -> b.append('\n');
          case 'r' -> b.append('\r');
          case 't' -> b.append('\t');
          case 'u' -> {
            if (pos + 4 > s.length()) {
              throw new IllegalArgumentException("bad \\u escape");
            }
            try {
              b.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
            } catch (NumberFormatException ex) {
              throw new IllegalArgumentException("bad \\u escape at " + pos);
            }
            pos += 4;
          }
          default -> throw new IllegalArgumentException("bad escape \\" + e);
        }
      }
    }
  }
}
