/** Small helpers every part of the server may use; they depend on nothing of the server. */
package io.handoff.server.util;
