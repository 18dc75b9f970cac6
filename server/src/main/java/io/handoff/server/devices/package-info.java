/**
 * Device sessions: sign-in with an identity token, rotating refresh tokens with reuse detection,
 * access tokens, the device list, revocation and erasure ({@link
 * io.handoff.server.devices.DeviceSessions}) over the {@link
 * io.handoff.server.devices.SessionStore} contract; the {@code /v1} HTTP API; token renewal and
 * device frames on a live socket. Keys and token verification live beside it in {@code auth}.
 */
package io.handoff.server.devices;
