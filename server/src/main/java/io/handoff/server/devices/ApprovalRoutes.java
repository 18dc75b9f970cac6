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

  private final ApiHandler api;
  private final DeviceApprovals approvals;

  ApprovalRoutes(ApiHandler api, DeviceApprovals approvals) {
    this.api = api;
    this.approvals = approvals;
  }

  static boolean handles(String path) {
    return path.equals("/v1/device_authorization") || path.startsWith("/v1/device/");
  }

  CompletableFuture<ApiHandler.Reply> route(
      FullHttpRequest req, String path, HttpMethod m, String address) {
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
                        "{\"device_code\":"
                            + Json.quote(a.deviceCode())
                            + ",\"user_code\":"
                            + Json.quote(a.userCode())
                            + ",\"verification_uri\":"
                            + Json.quote(a.verificationUri())
                            + ",\"verification_uri_complete\":"
                            + Json.quote(complete(a.verificationUri(), a.userCode()))
                            + ",\"expires_in\":"
                            + a.expiresInSeconds()
                            + ",\"interval\":"
                            + a.intervalSeconds()
                            + "}"));
      }
      case "/v1/device/verify" -> {
        Principal p = api.authenticate(req);
        Map<String, String> body = ApiHandler.jsonBody(req);
        return approvals
            .verify(p, ApiHandler.required(body, "user_code"), address)
            .thenApply(r -> new ApiHandler.Reply(200, request(r)));
      }
      case "/v1/device/answer" -> {
        Principal p = api.authenticate(req);
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
        String approvalId = id;
        return approvals
            .answer(p, approvalId, decision.equals("approve"), address)
            .thenApply(
                o ->
                    new ApiHandler.Reply(
                        200,
                        "{\"approval_id\":"
                            + Json.quote(approvalId)
                            + ",\"outcome\":"
                            + Json.quote(
                                o == ApprovalOutcome.APPROVAL_APPROVED ? "approved" : "denied")
                            + "}"));
      }
      default -> throw new ApiException(404, "not_found", "no such path: " + path);
    }
  }

  /**
   * POST /v1/sessions when approvals are on: 201 with tokens, or 202 with a device code to poll.
   */
  static CompletableFuture<ApiHandler.Reply> signIn(
      DeviceApprovals approvals, Map<String, String> body, String address) {
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
                return new ApiHandler.Reply(201, ApiHandler.tokens(s.tokens()));
              }
              DeviceApprovals.Held h = s.held();
              return new ApiHandler.Reply(
                  202,
                  "{\"status\":\"approval_pending\",\"approval_id\":"
                      + Json.quote(h.approvalId())
                      + ",\"device_code\":"
                      + Json.quote(h.deviceCode())
                      + ",\"expires_in\":"
                      + h.expiresInSeconds()
                      + ",\"interval\":"
                      + h.intervalSeconds()
                      + ",\"approvers_online\":"
                      + h.approversOnline()
                      + "}");
            });
  }

  private static String request(Request r) {
    return "{\"approval_id\":"
        + Json.quote(r.id())
        + ",\"kind\":"
        + Json.quote(r.kind())
        + ",\"user_code\":"
        + Json.quote(r.kind().equals("device_code") ? UserCodes.display(r.id()) : "")
        + ",\"device_id\":"
        + Json.quote(r.deviceId())
        + ",\"device_name\":"
        + Json.quote(r.name())
        + ",\"platform\":"
        + Json.quote(r.platform())
        + ",\"address\":"
        + Json.quote(r.address())
        + ",\"created_ms\":"
        + r.createdMillis()
        + ",\"expires_ms\":"
        + r.expiresMillis()
        + "}";
  }

  private static String complete(String uri, String userCode) {
    return uri + (uri.contains("?") ? "&" : "?") + "user_code=" + userCode;
  }
}
