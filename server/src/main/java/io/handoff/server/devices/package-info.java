/**
 * Device sessions: sign-in with an identity token, rotating refresh tokens with reuse detection
 * (and a reuse interval for retries, {@link io.handoff.server.devices.SealedSuccessor}), access
 * tokens, the device list, revocation and erasure ({@link
 * io.handoff.server.devices.DeviceSessions}) over the {@link
 * io.handoff.server.devices.SessionStore} contract; the {@code /v1} HTTP API; token renewal and
 * device frames on a live socket. Keys and token verification live beside it in {@code auth}.
 *
 * <p>Signing in devices that hold no session yet: device codes (RFC 8628 device authorization
 * grant) and opt-in "is this you?" approval of a sign-in from a new device, both approved or denied
 * by a trusted device of the same user, exactly once across nodes ({@link ApprovalStore}); the
 * limits that make user codes unguessable ({@link ApprovalConfig}); the service ({@link
 * DeviceApprovals}); and the prompts on a live connection ({@link ApprovalPrompts}).
 */
package io.handoff.server.devices;
