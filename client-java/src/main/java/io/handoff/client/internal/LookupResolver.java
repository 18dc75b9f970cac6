package io.handoff.client.internal;

import io.netty.resolver.AddressResolver;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.InetNameResolver;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Resolves server names with the JDK's resolver (the system's: hosts file, DNS, whatever the
 * platform is set up with) on threads of its own, never on an event loop. Netty's default resolver
 * group calls {@link InetAddress#getByName} on the loop that connects, where a lookup that hangs (a
 * DNS server that does not answer) would stall every other connection of that loop until it gave
 * up. The answer comes back on the loop that asked (its promises are that loop's); an IP address is
 * taken as it is, on the loop.
 *
 * <p>{@value #THREADS} lookup threads for the whole JVM, daemons, stopped after 30 s without work;
 * further lookups wait in a line of at most {@value #LINE}, and one past it fails at once (its
 * attempt goes to the reconnect backoff). The JDK's lookups of one name wait for each other, so
 * hung lookups hold their threads until the system resolver gives up: with {@value #THREADS} of
 * them, a few hung names leave threads for the rest. The JDK caches answers (30 s by default), so a
 * fleet of clients of one server name makes one lookup now and then. Thread-safe.
 */
public final class LookupResolver extends AddressResolverGroup<InetSocketAddress> {
  /** The one instance, shared by every client connection of the JVM. */
  public static final LookupResolver INSTANCE = new LookupResolver();

  static final int THREADS = 16;
  static final int LINE = 16_384;
  static final int IDLE_SECONDS = 30;

  private final ThreadPoolExecutor lookups;

  private LookupResolver() {
    AtomicInteger threads = new AtomicInteger();
    lookups =
        new ThreadPoolExecutor(
            THREADS,
            THREADS,
            IDLE_SECONDS,
            TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(LINE),
            r -> {
              Thread t = new Thread(r, "handoff-client-lookup-" + threads.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    lookups.allowCoreThreadTimeOut(true);
  }

  @Override
  protected AddressResolver<InetSocketAddress> newResolver(EventExecutor loop) {
    return new InetNameResolver(loop) {
      @Override
      protected void doResolve(String host, Promise<InetAddress> promise) {
        InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
        if (literal != null) {
          // An IP address needs no lookup, nor a thread of its own.
          promise.trySuccess(literal);
          return;
        }
        look(
            promise,
            () -> {
              try {
                promise.trySuccess(InetAddress.getByName(host));
              } catch (Exception e) {
                promise.tryFailure(e);
              }
            });
      }

      @Override
      protected void doResolveAll(String host, Promise<List<InetAddress>> promise) {
        InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
        if (literal != null) {
          promise.trySuccess(List.of(literal));
          return;
        }
        look(
            promise,
            () -> {
              try {
                promise.trySuccess(Arrays.asList(InetAddress.getAllByName(host)));
              } catch (Exception e) {
                promise.tryFailure(e);
              }
            });
      }
    }.asAddressResolver();
  }

  /** Runs {@code lookup} on a lookup thread, or fails {@code promise} when the line is full. */
  private void look(Promise<?> promise, Runnable lookup) {
    try {
      lookups.execute(lookup);
    } catch (RejectedExecutionException full) {
      promise.tryFailure(
          new UnknownHostException(
              "no lookup thread free and "
                  + LINE
                  + " lookups waiting: the system resolver does not answer"));
    }
  }
}
