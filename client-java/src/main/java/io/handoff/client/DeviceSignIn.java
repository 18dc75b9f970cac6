package io.handoff.client;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Signs in a device that holds no session yet, over the server's HTTP API (the JDK's HTTP client):
 * a device code for a person to approve on a signed-in device (RFC 8628: {@link #requestCode}, then
 * {@link #awaitApproval}), or a sign-in with an identity token that the server may hold until a
 * trusted device approves it ({@link #signIn}). Polls no faster than the server's interval, 5 s
 * slower after each {@code slow_down}, and after a {@code rate_limited} (429) no sooner than its
 * {@code Retry-After}. Thread-safe; close it to stop its polling thread.
 *
 * <pre>{@code
 * try (DeviceSignIn s = DeviceSignIn.of(URI.create("https://handoff.example"))) {
 *   DeviceSignIn.DeviceCode code = s.requestCode("tv-1", "Living room", "tv").join();
 *   show(code.userCode(), code.verificationUri());
 *   DeviceSignIn.Session session = s.awaitApproval(code).join();
 * }
 * }</pre>
 */
public final class DeviceSignIn implements AutoCloseable {
  static final String DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
  private static final long SLOW_DOWN_STEP_MILLIS = 5_000;

  private final URI base;
  private final HttpClient http;
  private final ScheduledExecutorService timer;
  // The awaitApproval futures not completed yet, failed by close().
  private final Set<CompletableFuture<Session>> waiting = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  private DeviceSignIn(URI base) {
    this.base = base;
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-device-sign-in");
              t.setDaemon(true);
              return t;
            });
  }

  /** For the server at {@code base} ({@code http(s)://host:port}). */
  public static DeviceSignIn of(URI base) {
    if (base == null || base.getScheme() == null || !base.getScheme().startsWith("http")) {
      throw new IllegalArgumentException("base must be an http or https URI, got " + base);
    }
    return new DeviceSignIn(base);
  }

  /** What to show the person: type {@code userCode} at {@code verificationUri}. */
  public record DeviceCode(
      String deviceCode,
      String userCode,
      String verificationUri,
      Duration expiresIn,
      Duration interval) {}

  /** A device session: tokens for {@link HandoffClient.Builder#token} and refreshing. */
  public record Session(
      String userId,
      String deviceId,
      String sessionId,
      String accessToken,
      long accessExpiresAtMs,
      String refreshToken) {}

  /**
   * The outcome of {@link #signIn}: a session at once, or a sign-in held for approval ({@code
   * pending}: poll it with {@link #awaitApproval}; {@code approversOnline} 0 means no trusted
   * device is online to see the prompt now).
   */
  public record SignIn(Session session, DeviceCode pending, int approversOnline) {}

  /** Asks for a device code and a user code (RFC 8628 §3.1). */
  public CompletableFuture<DeviceCode> requestCode(String deviceId, String name, String platform) {
    return post(
            "/v1/device_authorization",
            json("device_id", deviceId, "device_name", name, "platform", platform))
        .thenApply(
            r -> {
              Map<String, String> b = ok(r, 200);
              return new DeviceCode(
                  b.get("device_code"),
                  b.get("user_code"),
                  b.get("verification_uri"),
                  Duration.ofSeconds(Long.parseLong(b.get("expires_in"))),
                  Duration.ofSeconds(Long.parseLong(b.get("interval"))));
            });
  }

  /**
   * Signs in with the app's identity token; with new-device approval on, a device the user never
   * used is held until a trusted device approves it.
   */
  public CompletableFuture<SignIn> signIn(
      String identityToken, String deviceId, String name, String platform) {
    return post(
            "/v1/sessions",
            json(
                "identity_token",
                identityToken,
                "device_id",
                deviceId,
                "device_name",
                name,
                "platform",
                platform))
        .thenApply(
            r -> {
              if (r.statusCode() == 202) {
                Map<String, String> b = Json.parse(r.body());
                long ttl = Long.parseLong(b.get("expires_in"));
                return new SignIn(
                    null,
                    new DeviceCode(
                        b.get("device_code"),
                        "",
                        "",
                        Duration.ofSeconds(ttl),
                        Duration.ofSeconds(Long.parseLong(b.get("interval")))),
                    Integer.parseInt(b.get("approvers_online")));
              }
              return new SignIn(session(ok(r, 201)), null, 0);
            });
  }

  /**
   * Polls until the code is approved (a session), or fails with a {@link HandoffException} whose
   * message carries the server's {@code access_denied}, {@code expired_token} or {@code
   * invalid_grant}, or, when the server could not be reached until the code's lifetime (and one
   * interval) had passed, with a {@link HandoffException} saying so.
   *
   * @throws IllegalArgumentException before any poll, for a code without its device code, interval
   *     or lifetime (such as one restored from storage that did not keep them), as the TypeScript
   *     client refuses one
   */
  public CompletableFuture<Session> awaitApproval(DeviceCode code) {
    if (code == null || code.deviceCode() == null || code.deviceCode().isEmpty()) {
      throw new IllegalArgumentException("code.deviceCode must not be empty");
    }
    if (code.interval() == null || code.expiresIn() == null) {
      throw new IllegalArgumentException(
          "code.interval and code.expiresIn must be set, as the server gave them, were "
              + code.interval()
              + " and "
              + code.expiresIn());
    }
    CompletableFuture<Session> out = new CompletableFuture<>();
    waiting.add(out);
    out.whenComplete((s, e) -> waiting.remove(out));
    if (closed) {
      out.completeExceptionally(closedError());
      return out;
    }
    // Past this, network failures end the wait (the code has expired by then anyway), as in the
    // TypeScript client.
    long deadline =
        System.nanoTime()
            + Math.max(0, code.expiresIn().toNanos())
            + Math.max(0, code.interval().toNanos());
    pollLater(code, deadline, code.interval().toMillis(), out, 0);
    return out;
  }

  private static HandoffException closedError() {
    return HandoffException.local("the DeviceSignIn was closed while waiting for approval", null);
  }

  private void pollLater(
      DeviceCode code,
      long deadline,
      long intervalMillis,
      CompletableFuture<Session> out,
      long delay) {
    if (out.isDone()) {
      return;
    }
    try {
      schedulePoll(code, deadline, intervalMillis, out, delay);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      out.completeExceptionally(closedError()); // closed meanwhile
    }
  }

  private void schedulePoll(
      DeviceCode code,
      long deadline,
      long intervalMillis,
      CompletableFuture<Session> out,
      long delay) {
    timer.schedule(
        () ->
            post(
                    "/v1/token",
                    json("grant_type", DEVICE_CODE_GRANT, "device_code", code.deviceCode()))
                .whenComplete(
                    (r, err) -> {
                      if (err != null) {
                        if (System.nanoTime() - deadline > 0) {
                          out.completeExceptionally(
                              HandoffException.local(
                                  "could not reach the server until the code expired; request a"
                                      + " new one",
                                  err));
                        } else {
                          // Network: retry.
                          pollLater(code, deadline, intervalMillis, out, intervalMillis);
                        }
                        return;
                      }
                      Map<String, String> b = Json.parse(r.body());
                      if (r.statusCode() == 200) {
                        out.complete(session(b));
                        return;
                      }
                      String error = b.getOrDefault("error", "");
                      switch (error) {
                        case "authorization_pending" ->
                            pollLater(code, deadline, intervalMillis, out, intervalMillis);
                        // Too many requests from this address (or user) for a moment: the
                        // code is still good; wait what the server asks, at least the interval.
                        case "rate_limited" ->
                            pollLater(
                                code,
                                deadline,
                                intervalMillis,
                                out,
                                Math.max(intervalMillis, retryAfterMillis(r)));
                        case "slow_down" ->
                            pollLater(
                                code,
                                deadline,
                                intervalMillis + SLOW_DOWN_STEP_MILLIS,
                                out,
                                intervalMillis + SLOW_DOWN_STEP_MILLIS);
                        default ->
                            out.completeExceptionally(
                                HandoffException.api(
                                    error.isEmpty() ? "http_" + r.statusCode() : error,
                                    error + ": " + b.getOrDefault("message", r.body()),
                                    r.statusCode() >= 500));
                      }
                    }),
        delay,
        TimeUnit.MILLISECONDS);
  }

  /** The {@code Retry-After} header of a 429 in milliseconds (whole seconds), or 0. */
  private static long retryAfterMillis(HttpResponse<String> r) {
    try {
      return r.headers()
          .firstValue("Retry-After")
          .map(v -> Math.min(Long.parseLong(v.trim()), 60L) * 1000)
          .orElse(0L);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static Session session(Map<String, String> b) {
    return new Session(
        b.get("user_id"),
        b.get("device_id"),
        b.get("session_id"),
        b.get("access_token"),
        Long.parseLong(b.get("expires_at_ms")),
        b.get("refresh_token"));
  }

  private static Map<String, String> ok(HttpResponse<String> r, int status) {
    Map<String, String> b = Json.parse(r.body());
    if (r.statusCode() != status) {
      String error = b.getOrDefault("error", "http_" + r.statusCode());
      throw HandoffException.api(
          error,
          error + ": " + b.getOrDefault("message", r.body()),
          r.statusCode() >= 500 || r.statusCode() == 429);
    }
    return b;
  }

  private CompletableFuture<HttpResponse<String>> post(String path, String body) {
    return http.sendAsync(
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
            .build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static String json(String... kv) {
    StringBuilder b = new StringBuilder("{");
    for (int i = 0; i + 1 < kv.length; i += 2) {
      if (kv[i + 1] == null) {
        continue;
      }
      if (b.length() > 1) {
        b.append(',');
      }
      b.append(Json.quote(kv[i])).append(':').append(Json.quote(kv[i + 1]));
    }
    return b.append('}').toString();
  }

  /** Stops polling: every {@link #awaitApproval} still waiting fails. */
  @Override
  public void close() {
    closed = true;
    timer.shutdownNow();
    for (CompletableFuture<Session> w : List.copyOf(waiting)) {
      w.completeExceptionally(closedError());
    }
  }

  /** The flat JSON objects of the device-session API: string, number and boolean members. */
  static final class Json {
    private Json() {}

    static String quote(String s) {
      StringBuilder b = new StringBuilder("\"");
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> b.append("\\\"");
          case '\\' -> b.append("\\\\");
          case '\n' -> b.append("\\n");
          case '\r' -> b.append("\\r");
          case '\t' -> b.append("\\t");
          default -> {
            if (c < 0x20) {
              b.append(String.format("\\u%04x", (int) c));
            } else {
              b.append(c);
            }
          }
        }
      }
      return b.append('"').toString();
    }

    /** Members of a flat object as text (strings unescaped); empty for anything else. */
    static Map<String, String> parse(String text) {
      Map<String, String> out = new HashMap<>();
      int[] pos = {0};
      try {
        skip(text, pos);
        if (text.charAt(pos[0]++) != '{') {
          return out;
        }
        while (true) {
          skip(text, pos);
          if (text.charAt(pos[0]) == '}') {
            return out;
          }
          String key = string(text, pos);
          skip(text, pos);
          pos[0]++; // ':'
          skip(text, pos);
          String value;
          if (text.charAt(pos[0]) == '"') {
            value = string(text, pos);
          } else {
            int start = pos[0];
            while (pos[0] < text.length() && ",} \n\r\t".indexOf(text.charAt(pos[0])) < 0) {
              pos[0]++;
            }
            value = text.substring(start, pos[0]);
          }
          out.put(key, value);
          skip(text, pos);
          if (text.charAt(pos[0]++) == '}') {
            return out;
          }
        }
      } catch (RuntimeException e) {
        return out;
      }
    }

    private static void skip(String t, int[] pos) {
      while (pos[0] < t.length() && Character.isWhitespace(t.charAt(pos[0]))) {
        pos[0]++;
      }
    }

    private static String string(String t, int[] pos) {
      StringBuilder b = new StringBuilder();
      pos[0]++; // Opening quote.
      while (true) {
        char c = t.charAt(pos[0]++);
        if (c == '"') {
          return b.toString();
        }
        if (c == '\\') {
          char e = t.charAt(pos[0]++);
          switch (e) {
            case 'n' -> b.append('\n');
            case 'r' -> b.append('\r');
            case 't' -> b.append('\t');
            case 'b' -> b.append('\b');
            case 'f' -> b.append('\f');
            case 'u' -> {
              b.append((char) Integer.parseInt(t.substring(pos[0], pos[0] + 4), 16));
              pos[0] += 4;
            }
            default -> b.append(e);
          }
        } else {
          b.append(c);
        }
      }
    }
  }
}
