package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A status, its headers (lower case) and the body, of one raw HTTP/1.1 exchange. */
record RawHttp(int status, String head, String body) {
  /** Reads one answer: its head and the body its Content-Length gives. */
  static RawHttp read(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("the server closed without an answer: " + b);
      }
      b.write(c);
      matched = (c == '\r' || c == '\n') ? matched + 1 : 0;
    }
    String h = b.toString(StandardCharsets.US_ASCII).toLowerCase(Locale.ROOT);
    Matcher length = Pattern.compile("\r\ncontent-length: *([0-9]+)\r\n").matcher(h);
    assertTrue(length.find(), h);
    byte[] body = in.readNBytes(Integer.parseInt(length.group(1)));
    return new RawHttp(
        Integer.parseInt(h.substring(9, 12)), h, new String(body, StandardCharsets.UTF_8));
  }

  /** A header's value (name in lower case), or null. */
  String header(String name) {
    Matcher m = Pattern.compile("\r\n" + Pattern.quote(name) + ": *([^\r]*)\r\n").matcher(head);
    return m.find() ? m.group(1) : null;
  }

  /** A field of the JSON body. */
  String field(String name) {
    return new HttpApi.Answer(status, body).field(name);
  }

  @Override
  public String toString() {
    return head + body;
  }
}
