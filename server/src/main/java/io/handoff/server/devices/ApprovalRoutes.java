package io.handoff.server.devices;

import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.server.auth.Principal;
import io.handoff.server.devices.ApprovalStore.Request;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The HTTP side of {@link DeviceApprovals}, beside {@link ApiHandler}: {@code POST
 * /v1/device_authorization} (RFC 8628 §3.1), {@code POST /v1/device/verify} and {@code POST
 * /v1/device/answer} (a trusted device, with its access token), and the held answer of {@code POST
 * /v1/sessions}. The device-code grant of {@code POST /v1/token} is routed by ApiHandler. See
 * docs/security.md.
 */
final class ApprovalRoutes {
  static final String DEVICE_CODE_GRANT = DeviceApprovals.DEVICE_CODE_GRANT;

  private final DeviceApprovals approvals;

  ApprovalRoutes(DeviceApprovals approvals) {
    this.approvals = approvals;
  }

  static boolean handles(String path) {
    return path.equals("/v1/device_authorization") || path.startsWith("/v1/device/");
  }

  /** The routes of a trusted device, which take its access token. */
  static boolean authenticated(String path) {
    return path.equals("/v1/device/verify") || path.equals("/v1/device/answer");
  }

  /**
   * Answers {@code req}; {@code caller} is the principal of its access token on the {@link
   * #authenticated} routes (ApiHandler checked it), null on the others.
   */
  CompletableFuture<ApiHandler.Reply> route(
      FullHttpRequest req, String path, HttpMethod m, String address, Principal caller) {
    ApiHandler.requireMethod(m, HttpMethod.POST);
    switch (path) {
      case "/v1/device_authorization" -> {
        Map<String, String> body = ApiHandler.formOrJsonBody(req);
        return approvals
            .requestCode(
                ApiHandler.required(body, "device_id"),
                body.get("device_name"),
                body.get("platform"),
                address)
            .thenApply(
                a ->
                    new ApiHandler.Reply(
                        200,
                        ApiJson.write(
                            ApiJson.object()
                                .put("device_code", a.deviceCode())
                                .put("user_code", a.userCode())
                                .put("verification_uri", a.verificationUri())
                                .put(
                                    "verification_uri_complete",
                                    complete(a.verificationUri(), a.userCode()))
                                .put("expires_in", a.expiresInSeconds())
                                .put("interval", a.intervalSeconds()))));
      }
      case "/v1/device/verify" -> {
        Principal p = caller;
        Map<String, String> body = ApiHandler.jsonBody(req);
        return approvals
            .verify(p, ApiHandler.required(body, "user_code"), address)
            .thenApply(r -> new ApiHandler.Reply(200, request(r)));
      }
      case "/v1/device/answer" -> {
        Principal p = caller;
        Map<String, String> body = ApiHandler.jsonBody(req);
        String id = body.get("approval_id");
        if (id == null || id.isEmpty()) {
          id = ApiHandler.required(body, "user_code");
        }
        String decision = ApiHandler.required(body, "decision");
        if (!decision.equals("approve") && !decision.equals("deny")) {
          throw new ApiException(
              400, "invalid_request", "decision must be approve or deny, got " + decision);
        }
        String typed = id;
        String approvalId = UserCodes.approvalId(id);
        return approvals
            .answer(p, typed, decision.equals("approve"), address)
            .thenApply(
                o ->
                    new ApiHandler.Reply(
                        200,
                        ApiJson.write(
                            ApiJson.object()
                                .put("approval_id", approvalId)
                                .put(
                                    "outcome",
                                    o == ApprovalOutcome.APPROVAL_APPROVED
                                        ? "approved"
                                        : "denied"))));
      }
      default -> throw new ApiException(404, "not_found", "no such path: " + path);
    }
  }

  /**
   * POST /v1/sessions when approvals are on: 201 with tokens, or 202 with a device code to poll.
   */
  static CompletableFuture<ApiHandler.Reply> signIn(
      DeviceApprovals approvals, Map<String, String> body, String address, java.time.Clock clock) {
    return approvals
        .signIn(
            ApiHandler.required(body, "identity_token"),
            ApiHandler.required(body, "device_id"),
            body.get("device_name"),
            body.get("platform"),
            address)
        .thenApply(
            s -> {
              if (s.tokens() != null) {
                return new ApiHandler.Reply(201, ApiHandler.tokens(s.tokens(), clock.millis()));
              }
              DeviceApprovals.Held h = s.held();
              return new ApiHandler.Reply(
                  202,
                  ApiJson.write(
                      ApiJson.object()
                          .put("status", "approval_pending")
                          .put("approval_id", h.approvalId())
                          .put("device_code", h.deviceCode())
                          .put("expires_in", h.expiresInSeconds())
                          .put("interval", h.intervalSeconds())
                          .put("approvers_online", h.approversOnline())));
            });
  }

  private static String request(Request r) {
    return ApiJson.write(
        ApiJson.object()
            .put("approval_id", r.id())
            .put("kind", r.kind())
            .put("user_code", r.kind().equals("device_code") ? UserCodes.display(r.id()) : "")
            .put("device_id", r.deviceId())
            .put("device_name", r.name())
            .put("platform", r.platform())
            .put("address", r.address())
            .put("created_ms", r.createdMillis())
            .put("expires_ms", r.expiresMillis()));
  }

  private static String complete(String uri, String userCode) {
    return uri + (uri.contains("?") ? "&" : "?") + "user_code=" + userCode;
  }
}
