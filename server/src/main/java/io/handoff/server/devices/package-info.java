/** Device sessions and their {@code /v1} HTTP API: what the API reads and writes as JSON. */
package io.handoff.server.devices;
