package io.handoff.server.metrics;

import io.handoff.server.engine.Engine;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyAllocatorMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyEventExecutorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;

/**
 * One node's Prometheus registry: the node's own meters (registered by {@code ServerStats} and the
 * engines), JVM memory, GC, threads, CPU and uptime, and Netty's buffer allocators and event-loop
 * queues. Every meter carries the tag {@code node}. {@link #scrape()} renders the text format that
 * {@code /metrics} serves. Thread-safe.
 */
public final class NodeMetrics implements AutoCloseable {
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final JvmGcMetrics gc = new JvmGcMetrics();

  public NodeMetrics(String nodeId) {
    registry.config().commonTags("node", nodeId);
    new JvmMemoryMetrics().bindTo(registry);
    gc.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    bindAllocator(ByteBufAllocator.DEFAULT);
    if (ByteBufAllocator.DEFAULT != PooledByteBufAllocator.DEFAULT) {
      bindAllocator(PooledByteBufAllocator.DEFAULT);
    }
    bindAllocator(UnpooledByteBufAllocator.DEFAULT);
  }

  private void bindAllocator(ByteBufAllocator allocator) {
    if (allocator instanceof ByteBufAllocatorMetricProvider provider) {
      new NettyAllocatorMetrics(provider).bindTo(registry);
    }
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** Pending tasks of each event loop of {@code group}: a busy node's first symptom. */
  public void bindEventLoops(EventLoopGroup group) {
    new NettyEventExecutorMetrics(group).bindTo(registry);
  }

  /** The node's gauges that the server owns: readiness, users and sessions held here. */
  public void bindNode(BooleanSupplier ready, IntSupplier users, IntSupplier sessions) {
    Gauge.builder("handoff.ready", () -> ready.getAsBoolean() ? 1 : 0)
        .description("1 while /readyz answers 200")
        .register(registry);
    Gauge.builder("handoff.users", users::getAsInt)
        .description("users with a device on this node")
        .register(registry);
    Gauge.builder("handoff.sessions", sessions::getAsInt)
        .description("device sessions past Hello on this node")
        .register(registry);
  }

  /**
   * The node's meters of its engine: the store's health and resets, and the node's id: {@code
   * taken} (another running node was found holding it), and the claims of it refused while this
   * node held it.
   */
  public void bindEngine(Engine engine, String nodeId, BooleanSupplier taken) {
    Gauge.builder("handoff.store.up", () -> engine.healthy() ? 1 : 0)
        .description("1 while the engine reaches its backing store (Redis)")
        .register(registry);
    FunctionCounter.builder("handoff.store.resets", engine, e -> (double) e.storeResets())
        .description(
            "times the store was seen to lose data or restart (Redis: its life marker gone or"
                + " changed, or another process); every session re-read")
        .register(registry);
    Gauge.builder("handoff.node.id.taken", () -> taken.getAsBoolean() ? 1 : 0)
        .description(
            "1 once another running node was found holding this node's id; this node drains and"
                + " stops")
        .register(registry);
    FunctionCounter.builder(
            "handoff.node.id.claims.refused", engine, e -> (double) e.nodeClaimsRefused(nodeId))
        .description(
            "claims of this node's id by other processes refused while this node held it: another"
                + " process is configured with this node's --node-id")
        .register(registry);
  }

  /** The Prometheus text exposition of every meter. */
  public String scrape() {
    return registry.scrape();
  }

  @Override
  public void close() {
    gc.close();
    registry.close();
  }
}
