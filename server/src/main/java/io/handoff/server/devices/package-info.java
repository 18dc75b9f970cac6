/**
 * Device sessions: sign-in with an identity token, rotating refresh tokens with reuse detection
 * (and a reuse interval for retries, {@link io.handoff.server.devices.SealedSuccessor}), access
 * tokens, the device list, revocation and erasure, the {@code /v1} HTTP API, and tokens on a live
 * socket. Keys and token verification live beside it in {@code auth}.
 *
 * <p>Signing in devices that hold no session yet: device codes (RFC 8628 device authorization
 * grant) and opt-in "is this you?" approval of a sign-in from a new device, both approved or denied
 * by a trusted device of the same user, exactly once across nodes ({@link ApprovalStore}); the
 * limits that make user codes unguessable ({@link ApprovalConfig}); the service ({@link
 * DeviceApprovals}); and the prompts on a live connection ({@link ApprovalPrompts}, which reach the
 * device through the session's {@code Connection}).
 *
 * <p>Public face: the {@link io.handoff.server.devices.SessionStore} contract, {@link
 * io.handoff.server.devices.DeviceSessions}, {@link io.handoff.server.devices.ApiHandler} (the
 * {@code /v1} routes the transport serves), {@link io.handoff.server.devices.ApiException}, {@link
 * io.handoff.server.devices.TokenKeeper} (the per-connection part the session dispatches
 * RefreshToken, ListDevices and RevokeDevice to; with the approval prompts it holds the
 * connection's rate and in-flight bound of these requests, {@code DeviceRequests}) and {@link
 * io.handoff.server.devices.SessionGone}; for signing in new devices, the {@link ApprovalStore}
 * contract (which the engines implement), {@link ApprovalConfig}, {@link DeviceApprovals} and
 * {@link ApprovalMetrics} (which the node wires) and {@link ApprovalPrompts} (the per-connection
 * part the session dispatches VerifyUserCode and AnswerApproval to). {@link
 * io.handoff.server.devices.ApiJson} reads the API's request bodies under limits and writes its
 * answers.
 */
package io.handoff.server.devices;
