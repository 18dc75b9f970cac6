/**
 * The "continue on another device" demo: its page and demo tokens, served only by a node running
 * with the development secret (no {@code --jwt-secret}, no signing key, no identity JWKS). With a
 * real key or secret configured nothing here is reachable: {@code /demo/} answers 404 like any
 * unknown path.
 */
package io.handoff.server.demo;
