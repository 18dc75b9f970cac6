package io.handoff.server;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * JWS compact tokens and JWKS documents built by hand from the JDK's own {@code java.security}, so
 * that the tokens tests throw at the server do not come from the JOSE library under test.
 */
public final class HandJws {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

  private HandJws() {}

  public static KeyPair ecKeys() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The RSA key pair whose private key is the PKCS#8 PEM resource {@code name} of {@code owner};
   * the public key is derived from it.
   */
  public static KeyPair rsaKeys(Class<?> owner, String name) {
    try (java.io.InputStream in = owner.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("no resource " + name + " beside " + owner.getName());
      }
      String pem = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
      byte[] der =
          Base64.getMimeDecoder()
              .decode(pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", ""));
      java.security.KeyFactory rsa = java.security.KeyFactory.getInstance("RSA");
      java.security.interfaces.RSAPrivateCrtKey key =
          (java.security.interfaces.RSAPrivateCrtKey)
              rsa.generatePrivate(new java.security.spec.PKCS8EncodedKeySpec(der));
      return new KeyPair(
          rsa.generatePublic(
              new java.security.spec.RSAPublicKeySpec(key.getModulus(), key.getPublicExponent())),
          key);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static KeyPair ed25519Keys() {
    try {
      return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** EdDSA with Ed25519 (the JDK's). */
  public static String eddsa(String headerJson, String payloadJson, PrivateKey key) {
    String input = signingInput(headerJson, payloadJson);
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(key);
      s.update(input.getBytes(StandardCharsets.US_ASCII));
      return input + "." + B64.encodeToString(s.sign());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static String b64(String s) {
    return B64.encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  /** header.payload, both JSON text. */
  public static String signingInput(String headerJson, String payloadJson) {
    return b64(headerJson) + "." + b64(payloadJson);
  }

  /** ES256: SHA256withECDSA, with the DER signature turned into JWS's raw R||S (64 bytes). */
  public static String es256(String headerJson, String payloadJson, PrivateKey key) {
    String input = signingInput(headerJson, payloadJson);
    try {
      Signature s = Signature.getInstance("SHA256withECDSA");
      s.initSign(key);
      s.update(input.getBytes(StandardCharsets.US_ASCII));
      return input + "." + B64.encodeToString(derToRaw(s.sign()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static String rs256(String headerJson, String payloadJson, PrivateKey key) {
    String input = signingInput(headerJson, payloadJson);
    try {
      Signature s = Signature.getInstance("SHA256withRSA");
      s.initSign(key);
      s.update(input.getBytes(StandardCharsets.US_ASCII));
      return input + "." + B64.encodeToString(s.sign());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static String hs256(String headerJson, String payloadJson, byte[] secret) {
    String input = signingInput(headerJson, payloadJson);
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      return input
          + "."
          + B64.encodeToString(mac.doFinal(input.getBytes(StandardCharsets.US_ASCII)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** {@code alg: none}: no signature at all. */
  public static String unsigned(String payloadJson) {
    return signingInput("{\"alg\":\"none\",\"typ\":\"JWT\"}", payloadJson) + ".";
  }

  /** The token with its payload replaced after signing. */
  public static String tampered(String token, String payloadJson) {
    String[] p = token.split("\\.");
    return p[0] + "." + b64(payloadJson) + "." + p[2];
  }

  static byte[] derToRaw(byte[] der) {
    // SEQUENCE { INTEGER r, INTEGER s }, short form lengths for P-256.
    int offset = 2;
    if ((der[1] & 0xff) == 0x81) {
      offset = 3;
    }
    int rLen = der[offset + 1];
    byte[] r = Arrays.copyOfRange(der, offset + 2, offset + 2 + rLen);
    int sStart = offset + 2 + rLen;
    int sLen = der[sStart + 1];
    byte[] s = Arrays.copyOfRange(der, sStart + 2, sStart + 2 + sLen);
    byte[] raw = new byte[64];
    copyUnsigned(r, raw, 0);
    copyUnsigned(s, raw, 32);
    return raw;
  }

  private static void copyUnsigned(byte[] src, byte[] dst, int at) {
    int start = 0;
    while (src.length - start > 32 && src[start] == 0) {
      start++;
    }
    int len = src.length - start;
    System.arraycopy(src, start, dst, at + 32 - len, len);
  }

  private static String unsigned32(BigInteger v) {
    byte[] b = v.toByteArray();
    byte[] out = new byte[32];
    int start = b.length > 32 ? b.length - 32 : 0;
    System.arraycopy(b, start, out, 32 - (b.length - start), b.length - start);
    return B64.encodeToString(out);
  }

  private static String unsignedBytes(BigInteger v) {
    byte[] b = v.toByteArray();
    if (b.length > 1 && b[0] == 0) {
      b = Arrays.copyOfRange(b, 1, b.length);
    }
    return B64.encodeToString(b);
  }

  /** One public JWK (EC P-256, Ed25519 or RSA) as JSON text. */
  public static String jwk(java.security.PublicKey key, String kid) {
    if (key instanceof ECPublicKey ec) {
      return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"kid\":\""
          + kid
          + "\",\"x\":\""
          + unsigned32(ec.getW().getAffineX())
          + "\",\"y\":\""
          + unsigned32(ec.getW().getAffineY())
          + "\"}";
    }
    if (key.getAlgorithm().equals("EdDSA") || key.getAlgorithm().equals("Ed25519")) {
      byte[] der = key.getEncoded();
      byte[] x = Arrays.copyOfRange(der, der.length - 32, der.length);
      return "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":\"sig\",\"kid\":\""
          + kid
          + "\",\"x\":\""
          + B64.encodeToString(x)
          + "\"}";
    }
    RSAPublicKey rsa = (RSAPublicKey) key;
    return "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\""
        + kid
        + "\",\"n\":\""
        + unsignedBytes(rsa.getModulus())
        + "\",\"e\":\""
        + unsignedBytes(rsa.getPublicExponent())
        + "\"}";
  }

  public static String jwks(String... jwks) {
    return "{\"keys\":[" + String.join(",", jwks) + "]}";
  }
}
