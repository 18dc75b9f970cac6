package io.handoff.server.transport;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why a PEM private key Netty refused ("File does not contain valid private key") is refused, when
 * its form says so: the node reads unencrypted PKCS#8 keys ({@code -----BEGIN PRIVATE KEY-----}),
 * and OpenSSL's older forms, PKCS#1 for RSA and SEC1 for EC, and encrypted keys are common in files
 * operators are handed. The reason names the form and the one command that converts it.
 */
final class TlsKeyForm {
  private static final int MAX_READ = 64 * 1024;
  private static final Pattern BEGIN = Pattern.compile("-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----");

  private TlsKeyForm() {}

  /** Why {@code key} cannot be used and how to convert it; null when its form is not the reason. */
  static String refusal(Path key) {
    String text;
    try (InputStream in = Files.newInputStream(key)) {
      text = new String(in.readNBytes(MAX_READ), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      return null;
    }
    // The first key block: openssl ecparam -genkey writes an EC PARAMETERS block before it.
    Matcher m = BEGIN.matcher(text);
    if (!m.find()) {
      return null;
    }
    String form =
        switch (m.group(1)) {
          case "RSA PRIVATE KEY" -> "an RSA key in PKCS#1 form (-----BEGIN RSA PRIVATE KEY-----)";
          case "EC PRIVATE KEY" -> "an EC key in SEC1 form (-----BEGIN EC PRIVATE KEY-----)";
          case "ENCRYPTED PRIVATE KEY" ->
              "an encrypted key (-----BEGIN ENCRYPTED PRIVATE KEY-----), and the node takes no"
                  + " passphrase";
          default -> null;
        };
    if (form == null) {
      return null;
    }
    if (text.contains("Proc-Type: 4,ENCRYPTED")) {
      form += ", encrypted, and the node takes no passphrase";
    }
    String name = key.getFileName().toString().replaceFirst("\\.(pem|key)$", "");
    Path converted = key.resolveSibling(name + ".pk8.pem");
    return "the file holds "
        + form
        + "; the node reads unencrypted PKCS#8 keys (-----BEGIN PRIVATE KEY-----): convert it with"
        + " openssl pkcs8 -topk8 -nocrypt -in "
        + key
        + " -out "
        + converted
        + " and give the new file to --tls-key";
  }
}
