/** The node's metrics: a Micrometer Prometheus registry with JVM and Netty meters, for /metrics. */
package io.handoff.server.metrics;
