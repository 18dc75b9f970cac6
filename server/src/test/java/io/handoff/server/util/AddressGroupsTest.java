package io.handoff.server.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class AddressGroupsTest {
  @Test
  void anIpv4AddressIsItsOwnGroup() throws Exception {
    assertEquals("192.0.2.7", AddressGroups.of("192.0.2.7"));
    assertEquals("192.0.2.7", AddressGroups.of(InetAddress.getByName("192.0.2.7")));
    assertEquals("127.0.0.1", AddressGroups.of("127.0.0.1"));
  }

  @Test
  void anIpv6AddressCountsWithItsSlash64() throws Exception {
    assertEquals("2001:db8:5:6::/64", AddressGroups.of("2001:db8:5:6::1"));
    assertEquals("2001:db8:5:6::/64", AddressGroups.of("2001:db8:5:6:ffff:ffff:ffff:fffe"));
    assertEquals(
        "2001:db8:5:6::/64", AddressGroups.of(InetAddress.getByName("2001:db8:5:6:1:2:3:4")));
    assertEquals("2001:db8:5:7::/64", AddressGroups.of("2001:db8:5:7::1"));
    assertEquals("2001:db8:0:0::/64", AddressGroups.of("2001:db8::1"));
    assertEquals("0:0:0:0::/64", AddressGroups.of("::1"));
    assertEquals(
        "2001:db8:0:0::/64",
        AddressGroups.of("2001:db8:0:0:0:0:0:9"),
        "written out in full or shortened, one group");
    assertEquals("fe80:0:0:0::/64", AddressGroups.of("fe80::1%eth0"), "the scope is ignored");
  }

  @Test
  void anIpv4MappedIpv6AddressIsTheIpv4Address() throws Exception {
    assertEquals("192.0.2.7", AddressGroups.of("::ffff:192.0.2.7"));
    assertEquals("192.0.2.7", AddressGroups.of("::ffff:c000:207"));
    byte[] mapped = new byte[16];
    mapped[10] = (byte) 0xff;
    mapped[11] = (byte) 0xff;
    mapped[12] = (byte) 192;
    mapped[15] = 7;
    assertEquals(
        "192.0.0.7",
        AddressGroups.of(java.net.Inet6Address.getByAddress(null, mapped, null)),
        "an Inet6Address holding a mapped address too");
  }

  @Test
  void textThatIsNoIpLiteralIsItsOwnGroupAndNeverLookedUp() {
    assertEquals("unknown", AddressGroups.of("unknown"));
    assertEquals("localhost", AddressGroups.of("localhost"));
  }

  @Test
  void sameComparesGroupsParsingOnlyWhatMayBeIpv6() {
    String group = AddressGroups.of("2001:db8:5:6::1");
    assertTrue(AddressGroups.same("2001:db8:5:6::9", "2001:db8:5:6::1", group));
    assertFalse(AddressGroups.same("2001:db8:5:7::1", "2001:db8:5:6::1", group));
    assertTrue(AddressGroups.same("192.0.2.7", "192.0.2.7", "192.0.2.7"));
    assertFalse(AddressGroups.same("192.0.2.8", "192.0.2.7", "192.0.2.7"));
    assertTrue(AddressGroups.same("::ffff:192.0.2.7", "192.0.2.7", "192.0.2.7"));
    assertTrue(AddressGroups.same("192.0.2.7", "::ffff:192.0.2.7", "192.0.2.7"));
  }
}
