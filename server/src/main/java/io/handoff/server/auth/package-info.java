/**
 * Keys and tokens. {@link io.handoff.server.auth.TokenVerifier} turns a bearer token into a {@link
 * io.handoff.server.auth.Principal} (user, device, device session): {@link
 * io.handoff.server.auth.AccessTokenVerifier} accepts the node's own ES256 access tokens ({@link
 * io.handoff.server.auth.AccessTokens}, signed with {@link io.handoff.server.auth.SigningKeys}) and
 * the HS256 development tokens. {@link io.handoff.server.auth.IdentityVerifier} checks the app's
 * identity tokens at sign-in against a JWKS. {@link io.handoff.server.auth.TokenConfig} holds the
 * settings. All JOSE parsing goes through nimbus-jose-jwt; every verifier allows exactly the
 * algorithms it names. See docs/security.md.
 */
package io.handoff.server.auth;
