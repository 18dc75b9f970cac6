package io.handoff.server.session;

/**
 * A {@link Session}'s phase and event-loop flags, in two bytes: an enum reference and five booleans
 * took 8 bytes more of every idle connection (IdleConnectionObjectsTest). {@link Session} extends
 * this class (one object per connection part, as HandoffSession extends Presence).
 *
 * <p>Threads: the connection's event loop owns both bytes. Every write is on it (the transport's
 * calls, the features' and the session's own hops), so a flag's read-modify-write loses no other
 * flag. The session's one flag other threads write, {@code dead}, is a volatile of its own.
 */
abstract class SessionState {
  enum Phase {
    OPENING,
    AWAIT_HELLO,
    SYNCING,
    LIVE,
    CLOSED
  }

  private static final Phase[] PHASES = Phase.values();

  /** The session sends nothing more: its close frame is on its way. */
  static final byte CLOSING = 1;

  /** The node drains: the session closes once what is in flight is answered. */
  static final byte DRAINING = 2;

  /** The broker may have lost events while the resume was read (SYNCING): read again once live. */
  static final byte RECHECK_WHEN_LIVE = 4;

  /** The hub admitted the connection: it holds one of the user's slots until closed. */
  static final byte ADMITTED = 8;

  /** Registered with the hub, as a session past Hello. */
  static final byte REGISTERED = 16;

  /** Its Hello's resume waited in the node's line (ResumeSlots), until REGISTERED. */
  static final byte IN_LINE = 32;

  /** Its Hello's resume waits in the node's line: not started, and never will if it closes. */
  final boolean waitsInLine() {
    return is(IN_LINE) && !is(REGISTERED);
  }

  private byte phase; // Phase.OPENING
  private byte flags;

  final Phase phase() {
    return PHASES[phase];
  }

  final void phase(Phase p) {
    phase = (byte) p.ordinal();
  }

  final boolean is(byte flag) {
    return (flags & flag) != 0;
  }

  final void set(byte flag, boolean on) {
    flags = (byte) (on ? flags | flag : flags & ~flag);
  }
}
