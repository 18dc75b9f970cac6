package io.handoff.server.util;

import io.netty.util.NetUtil;
import java.net.InetAddress;

/**
 * The group a network address counts in for every per-address bound of the node (upgrades per
 * address, API requests per address, pending sign-ins per address, wrong user codes per address):
 * an IPv4 address is its own group; an IPv6 address counts with its /64 prefix, the block a single
 * host or home network is typically given, so one host cannot become many callers by using many
 * addresses of its /64; an IPv4-mapped IPv6 address ({@code ::ffff:192.0.2.7}) is the IPv4 address
 * it carries. Groups are text: {@code 192.0.2.7}, {@code 2001:db8:0:7::/64}. Stateless.
 */
public final class AddressGroups {
  private AddressGroups() {}

  /** The group of {@code address}. */
  public static String of(InetAddress address) {
    return of(address.getAddress());
  }

  /**
   * The group of {@code address}, an IP literal as {@link InetAddress#getHostAddress()} writes it
   * (an IPv6 scope such as {@code %eth0} is ignored). Anything that is not an IP literal (such as
   * {@code "unknown"} for a peer without an IP address) is its own group, unchanged; no name is
   * ever looked up.
   */
  public static String of(String address) {
    byte[] bytes = NetUtil.createByteArrayFromIpAddressString(address);
    return bytes == null ? address : of(bytes);
  }

  /**
   * Whether {@code a} is in {@code group}, the group of address {@code b} (passed to save working
   * it out again when one address is compared with many): equal addresses are, and two addresses
   * without a colon (IPv4, or not IP literals) are their own groups, so only IPv6 ones are parsed.
   */
  public static boolean same(String a, String b, String group) {
    if (a.equals(b)) {
      return true;
    }
    if (a.indexOf(':') < 0 && b.indexOf(':') < 0) {
      return false;
    }
    return of(a).equals(group);
  }

  private static String of(byte[] b) {
    if (b.length == 16 && isIpv4Mapped(b)) {
      return (b[12] & 0xff) + "." + (b[13] & 0xff) + "." + (b[14] & 0xff) + "." + (b[15] & 0xff);
    }
    if (b.length == 4) {
      return (b[0] & 0xff) + "." + (b[1] & 0xff) + "." + (b[2] & 0xff) + "." + (b[3] & 0xff);
    }
    StringBuilder s = new StringBuilder(24);
    for (int i = 0; i < 8; i += 2) {
      s.append(Integer.toHexString(((b[i] & 0xff) << 8) | (b[i + 1] & 0xff))).append(':');
    }
    return s.append(":/64").toString();
  }

  private static boolean isIpv4Mapped(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
  }
}
