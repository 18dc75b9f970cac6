/**
 * Signing in devices that hold no session yet: device codes (RFC 8628 device authorization grant)
 * and opt-in "is this you?" approval of a sign-in from a new device, both approved or denied by a
 * trusted device of the same user, exactly once across nodes ({@link ApprovalStore}); the limits
 * that make user codes unguessable ({@link ApprovalConfig}); the service ({@link DeviceApprovals});
 * and the prompts on a live connection ({@link ApprovalPrompts}).
 */
package io.handoff.server.devices;
