package io.handoff.client.internal;

import io.netty.resolver.AddressResolver;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.InetNameResolver;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
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
 * <p>4 lookup threads for the whole JVM, daemons, stopped after 30 s without work; further lookups
 * wait in line. The JDK caches answers (30 s by default), so a fleet of clients of one server name
 * makes one lookup now and then. Thread-safe.
 */
public final class LookupResolver extends AddressResolverGroup<InetSocketAddress> {
  /** The one instance, shared by every client connection of the JVM. */
  public static final LookupResolver INSTANCE = new LookupResolver();

  static final int THREADS = 4;
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
            new LinkedBlockingQueue<>(),
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
        lookups.execute(
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
        lookups.execute(
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
}
