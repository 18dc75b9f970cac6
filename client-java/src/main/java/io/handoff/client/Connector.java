package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import java.net.URI;

/**
 * Starts one connection attempt to one of the client's endpoints (see {@link FrameListener} for how
 * the outcome is reported). May throw if the attempt cannot even start, e.g. when the token
 * supplier fails.
 */
interface Connector {
  FrameChannel connect(URI endpoint, FrameListener listener);
}
