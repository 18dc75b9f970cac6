package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.EncryptedPrivateKeyInfo;
import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.PBEParameterSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a supervisor and an operator are told when a node cannot start for something outside its
 * configuration (the identity provider does not answer: exit code 3, as for an unreachable Redis,
 * so that a supervisor starts it again) or for a file in a form the node does not read (a TLS key
 * in SEC1, PKCS#1 or encrypted form: exit code 2, with the conversion to PKCS#8), in the style of
 * {@link CommandLineErrorsTest}: one line, naming the option and where its value came from.
 */
class StartUpRefusalsTest {
  private static final String SECRET = "s".repeat(40);
  private static final char[] PASSWORD = "changeit".toCharArray();
  @TempDir static Path dir;
  private static ServerSocket busy;
  private static HttpServer idp;
  private static String idpUrl;
  private static Path[] ecCertificate;

  @BeforeAll
  static void start() throws Exception {
    busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    idp = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    answer("/unavailable", 503, "upstream down");
    answer("/overloaded", 429, "slow down");
    answer("/missing", 404, "no such page");
    answer("/garbage", 200, "this is no JWKS");
    idp.start();
    idpUrl = "http://127.0.0.1:" + idp.getAddress().getPort();
  }

  private static void answer(String path, int status, String body) {
    idp.createContext(
        path,
        exchange -> {
          byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(status, bytes.length);
          exchange.getResponseBody().write(bytes);
          exchange.close();
        });
  }

  @AfterAll
  static void stop() throws Exception {
    idp.stop(0);
    busy.close();
  }

  private record Outcome(int exit, String said) {}

  private static Outcome run(Map<String, String> env, String... args) {
    StringWriter err = new StringWriter();
    Map<String, String> withSecret = new HashMap<>(env);
    withSecret.put("HANDOFF_JWT_SECRET", SECRET);
    // A busy port: a node that got past what is tested stops at the listen, never serves.
    String[] all = Arrays.copyOf(args, args.length + 4);
    all[args.length] = "--host";
    all[args.length + 1] = "127.0.0.1";
    all[args.length + 2] = "--port";
    all[args.length + 3] = Integer.toString(busy.getLocalPort());
    int exit =
        Main.run(all, withSecret, new PrintWriter(new StringWriter(), true), new PrintWriter(err));
    String said = err.toString();
    assertFalse(said.contains("\tat "), "no stack trace: " + said);
    assertFalse(said.contains("Exception"), "no exception names: " + said);
    assertEquals(1, said.strip().lines().count(), "one line: " + said);
    return new Outcome(exit, said);
  }

  private static void says(Outcome o, String... fragments) {
    for (String f : fragments) {
      assertTrue(o.said().contains(f), "expected '" + f + "' in: " + o.said());
    }
  }

  @Test
  void anIdentityProviderAnswering503AtStartIsTemporaryExitCode3() {
    Outcome o = run(Map.of(), "--identity-jwks", idpUrl + "/unavailable");
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + idpUrl + "/unavailable", "503");
  }

  @Test
  void anIdentityProviderAnswering429AtStartIsTemporaryExitCode3() {
    Outcome o = run(Map.of("HANDOFF_IDENTITY_JWKS", idpUrl + "/overloaded"), new String[] {});
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (HANDOFF_IDENTITY_JWKS (--identity-jwks)) from ", "429");
  }

  @Test
  void anIdentityProviderThatRefusesConnectionsAtStartIsTemporaryExitCode3() throws Exception {
    int closed;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    String url = "http://127.0.0.1:" + closed + "/.well-known/jwks.json";
    Outcome o = run(Map.of(), "--identity-jwks", url);
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + url);
  }

  @Test
  void aJwksUrlAnswering404IsTemporaryAsAWrongRedisPasswordIs() {
    // The node cannot tell a wrong path from an identity provider being redeployed; an unreachable
    // Redis, a name that does not resolve and a refused password are exit code 3 too.
    Outcome o = run(Map.of(), "--identity-jwks", idpUrl + "/missing");
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + idpUrl + "/missing", "404");
  }

  @Test
  void aJwksThatIsNoKeySetOrAFileThatIsMissingIsInvalidConfigurationExitCode2() {
    Outcome garbage = run(Map.of(), "--identity-jwks", idpUrl + "/garbage");
    assertEquals(2, garbage.exit(), garbage.said());
    says(
        garbage,
        "invalid configuration: cannot load the JWKS (--identity-jwks) from "
            + idpUrl
            + "/garbage");
    Path missing = dir.resolve("no-such-jwks.json");
    Outcome file = run(Map.of(), "--identity-jwks", missing.toString());
    assertEquals(2, file.exit(), file.said());
    says(file, "cannot load the JWKS (--identity-jwks) from " + missing, "there is no such file");
  }

  @Test
  void anEcKeyInSec1FormIsRefusedWithTheConversionToPkcs8() throws Exception {
    Path[] certAndKey = ecCertificate();
    Path sec1 = dir.resolve("ec-sec1.pem");
    // As openssl ecparam -genkey writes it: the curve's block (P-256's OID) before the key's.
    byte[] p256 = {0x06, 0x08, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x03, 0x01, 0x07};
    Files.writeString(
        sec1,
        TestCertificates.pem("EC PARAMETERS", p256)
            + TestCertificates.pem("EC PRIVATE KEY", innerKey(Files.readString(certAndKey[1]))));
    Outcome o =
        run(Map.of("HANDOFF_TLS_KEY", sec1.toString()), "--tls-cert", certAndKey[0].toString());
    assertEquals(2, o.exit(), o.said());
    says(
        o,
        "HANDOFF_TLS_KEY (--tls-key)",
        sec1.toString(),
        "SEC1",
        "PKCS#8",
        "openssl pkcs8 -topk8 -nocrypt -in " + sec1 + " -out ");
  }

  @Test
  void anRsaKeyInPkcs1FormIsRefusedWithTheConversionToPkcs8() throws Exception {
    // Netty refuses the key before it compares it with the certificate: the EC one serves.
    Path[] certAndKey = ecCertificate();
    KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
    rsa.initialize(2048);
    byte[] rsaPkcs8 = rsa.generateKeyPair().getPrivate().getEncoded();
    Path pkcs1 = dir.resolve("rsa-pkcs1.pem");
    Files.writeString(
        pkcs1,
        TestCertificates.pem(
            "RSA PRIVATE KEY", innerKey(TestCertificates.pem("PRIVATE KEY", rsaPkcs8))));
    Outcome o =
        run(Map.of(), "--tls-cert", certAndKey[0].toString(), "--tls-key", pkcs1.toString());
    assertEquals(2, o.exit(), o.said());
    says(
        o,
        "(--tls-key)",
        pkcs1.toString(),
        "PKCS#1",
        "PKCS#8",
        "openssl pkcs8 -topk8 -nocrypt -in " + pkcs1 + " -out ");
  }

  @Test
  void anEncryptedKeyIsRefusedWithTheConversionToAnUnencryptedOne() throws Exception {
    Path[] certAndKey = ecCertificate();
    byte[] pkcs8 =
        Base64.getMimeDecoder()
            .decode(Files.readString(certAndKey[1]).replaceAll("-----[A-Z ]+-----", "").strip());
    String algorithm = "PBEWithSHA1AndDESede";
    SecretKey secret =
        SecretKeyFactory.getInstance(algorithm).generateSecret(new PBEKeySpec(PASSWORD));
    Cipher cipher = Cipher.getInstance(algorithm);
    cipher.init(Cipher.ENCRYPT_MODE, secret, new PBEParameterSpec(new byte[8], 10_000));
    EncryptedPrivateKeyInfo encrypted =
        new EncryptedPrivateKeyInfo(cipher.getParameters(), cipher.doFinal(pkcs8));
    Path key = dir.resolve("enc.key");
    Files.writeString(key, TestCertificates.pem("ENCRYPTED PRIVATE KEY", encrypted.getEncoded()));
    Outcome o = run(Map.of(), "--tls-cert", certAndKey[0].toString(), "--tls-key", key.toString());
    assertEquals(2, o.exit(), o.said());
    says(
        o,
        "(--tls-key)",
        "encrypted",
        "no passphrase",
        "openssl pkcs8 -topk8 -nocrypt -in " + key + " -out " + dir.resolve("enc.pk8.pem"));
  }

  /**
   * {@link TestCertificates#selfSigned}, made once for the tests that need one (keytool is slow).
   */
  private static synchronized Path[] ecCertificate() throws Exception {
    if (ecCertificate == null) {
      ecCertificate = TestCertificates.selfSigned(dir, "ec");
    }
    return ecCertificate;
  }

  /**
   * The key a PKCS#8 PEM wraps (PrivateKeyInfo's last field, an OCTET STRING): an RSA key's is its
   * PKCS#1 RSAPrivateKey, an EC key's its SEC1 ECPrivateKey, what {@code openssl rsa -traditional}
   * and {@code openssl ec} write.
   */
  private static byte[] innerKey(String pkcs8Pem) {
    byte[] der =
        Base64.getMimeDecoder().decode(pkcs8Pem.replaceAll("-----[A-Z ]+-----", "").strip());
    int[] at = {0};
    header(der, at, 0x30); // PrivateKeyInfo
    skip(der, at, 0x02); // version
    skip(der, at, 0x30); // algorithm
    int length = header(der, at, 0x04); // privateKey
    return Arrays.copyOfRange(der, at[0], at[0] + length);
  }

  private static int header(byte[] der, int[] at, int tag) {
    assertEquals(tag, der[at[0]++] & 0xff, "DER tag");
    int first = der[at[0]++] & 0xff;
    if (first < 0x80) {
      return first;
    }
    int length = 0;
    for (int i = 0; i < (first & 0x7f); i++) {
      length = (length << 8) | (der[at[0]++] & 0xff);
    }
    return length;
  }

  private static void skip(byte[] der, int[] at, int tag) {
    int length = header(der, at, tag);
    at[0] += length;
  }
}
