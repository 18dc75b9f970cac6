package io.handoff.server;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Calls a node's HTTP API with the JDK's HTTP client; answers are status and body text. */
public final class HttpApi {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final int port;

  public HttpApi(int port) {
    this.port = port;
  }

  public record Answer(int status, String body) {
    /** A top-level string member of the JSON body, or null. */
    public String field(String name) {
      Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":\"([^\"]*)\"").matcher(body);
      return m.find() ? m.group(1) : null;
    }

    public long number(String name) {
      Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":(-?[0-9]+)").matcher(body);
      if (!m.find()) {
        throw new AssertionError("no number " + name + " in " + body);
      }
      return Long.parseLong(m.group(1));
    }

    @Override
    public String toString() {
      return status + " " + body;
    }
  }

  public Answer post(String path, String json) {
    return send(
        HttpRequest.newBuilder(uri(path))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  public Answer post(String path, String json, String bearer) {
    return send(
        auth(
            HttpRequest.newBuilder(uri(path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)),
            bearer));
  }

  public Answer get(String path, String bearer) {
    return send(auth(HttpRequest.newBuilder(uri(path)).GET(), bearer));
  }

  public Answer delete(String path, String bearer) {
    return send(auth(HttpRequest.newBuilder(uri(path)).DELETE(), bearer));
  }

  /** Signs in and returns the answer (201 with tokens on success). */
  public Answer signIn(String identityToken, String device, String name, String platform) {
    return post(
        "/v1/sessions",
        "{\"identity_token\":\""
            + identityToken
            + "\",\"device_id\":\""
            + device
            + "\",\"device_name\":\""
            + name
            + "\",\"platform\":\""
            + platform
            + "\"}");
  }

  public Answer refresh(String refreshToken) {
    return post(
        "/v1/token",
        "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"" + refreshToken + "\"}");
  }

  private static HttpRequest.Builder auth(HttpRequest.Builder b, String bearer) {
    return bearer == null ? b : b.header("Authorization", "Bearer " + bearer);
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  private static Answer send(HttpRequest.Builder b) {
    try {
      HttpResponse<String> r =
          HTTP.send(
              b.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      return new Answer(r.statusCode(), r.body());
    } catch (Exception e) {
      throw new AssertionError("HTTP call failed", e);
    }
  }
}
