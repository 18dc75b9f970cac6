/**
 * Device sessions: sign-in with an identity token, rotating refresh tokens with reuse detection,
 * access tokens, the device list, revocation and erasure, the {@code /v1} HTTP API, and tokens on a
 * live socket. Keys and token verification live beside it in {@code auth}.
 *
 * <p>Public face: the {@link io.handoff.server.devices.SessionStore} contract, {@link
 * io.handoff.server.devices.DeviceSessions}, {@link io.handoff.server.devices.ApiHandler} (the
 * {@code /v1} routes the transport serves), {@link io.handoff.server.devices.ApiException}, {@link
 * io.handoff.server.devices.TokenKeeper} (the per-connection part the session dispatches
 * RefreshToken, ListDevices and RevokeDevice to) and {@link io.handoff.server.devices.SessionGone}.
 * {@link io.handoff.server.devices.ApiJson} reads the API's request bodies under limits and writes
 * its answers.
 */
package io.handoff.server.devices;
