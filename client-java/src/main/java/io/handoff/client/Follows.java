package io.handoff.client;

import io.handoff.protocol.Names;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Unfollow;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What a {@link SyncEngine} follows, and the app's changes to it at run time ({@link
 * HandoffClient#follow}, {@link HandoffClient#unfollow}, {@link HandoffClient#followAll}), as the
 * TypeScript client's {@code follow}. The set starts as the config's and is what every Hello
 * carries ({@link Hellos}).
 *
 * <p>A change is checked before anything is sent: names and prefixes against the server's rule of
 * names, and a follow against its limit of {@value FollowSet#MAX_FOLLOW_ENTRIES} entries (following
 * all counts as the prefix {@code ""}), with the changes still waiting for answers taken, both with
 * {@link IllegalArgumentException}. While welcomed it goes as a {@code Follow} (with the replicas'
 * positions) or an {@code Unfollow}, and the set changes once the server answered it (its {@code
 * SyncReport}): a refused one leaves it as it was. One whose answer is lost with its connection is
 * taken all the same, as the client connects again and the next Hello carries the set ({@link
 * #connectionLost}); the client closed, or stopped for good, fails it instead. Answers may come out
 * of order (a node answers an {@code Unfollow} ahead of a {@code Follow} still reading), so changes
 * are taken in the order they were sent, each once those before it are answered: the set ends as
 * the node's does. A refused one (the server's {@code Error}, or too many requests waiting to send
 * it) is dropped at once, and at most {@link #MAX_SENT} changes wait to be taken: more fail at once
 * with LIMIT_EXCEEDED, as requests beyond {@link HandoffRequests#MAX_PENDING} do. While not
 * welcomed the set changes at once, for the next Hello; if the attempt under way built its Hello
 * already (in its upgrade, or as its first frame) and that Hello no longer says what the client
 * follows, the attempt is left and the next goes at once ({@link Link#restart}), as the TypeScript
 * client does: a node that read the older Hello would keep the older set, silently
 * (docs/decisions.md). One whose upgrade carried the Hello is left at its 101, not before: the node
 * may not have numbered it yet, and would take it for the device's newer connection.
 *
 * <p>The replica and the listeners of a document no longer followed stay: the replica keeps the
 * last version it had and moves again once the document is followed again.
 *
 * <p>{@link #change} and {@link #now} from any thread; the rest on the event loop.
 */
final class Follows {
  /** One follow set: every document (and any names and prefixes added), or these. Immutable. */
  record Spec(boolean all, List<String> documents, List<String> prefixes) {
    /** The Hello's {@code follow}: {@code null} when every document is followed. */
    FollowSpec hello() {
      return all
          ? null
          : FollowSpec.newBuilder().addAllDocuments(documents).addAllPrefixes(prefixes).build();
    }

    /** Whether a Hello of {@code other} follows what one of this set does. */
    boolean sameAs(Spec other) {
      return all == other.all
          && (all
              || (new HashSet<>(documents).equals(new HashSet<>(other.documents))
                  && new HashSet<>(prefixes).equals(new HashSet<>(other.prefixes))));
    }
  }

  private final SyncEngine engine;
  // The set now: what the next Hello carries. Written on the event loop, read from any thread.
  private volatile Spec now;
  // Changes sent on the current connection, in the order sent, until taken; a refused one (an
  // Error, or too many requests waiting to send it) leaves at once. At most MAX_SENT: beyond it a
  // change is refused, as a request beyond HandoffRequests.MAX_PENDING is.
  private final ArrayDeque<Change> sent = new ArrayDeque<>();

  /**
   * The most changes sent and not yet taken: waiting for their answers, or answered and waiting for
   * an earlier one's (an {@code Unfollow} answered ahead of a {@code Follow} still reading). One
   * more fails at once with LIMIT_EXCEEDED.
   */
  static final int MAX_SENT = HandoffRequests.MAX_PENDING;

  Follows(SyncEngine engine, ClientConfig config) {
    this.engine = engine;
    this.now = new Spec(config.followAll, config.followDocuments, config.followPrefixes);
  }

  /** The set now: what the next Hello carries. Any thread. */
  Spec now() {
    return now;
  }

  /**
   * Follows ({@code add}) or unfollows these names and prefixes, as {@code setting} (named in the
   * messages). Any thread.
   *
   * @throws IllegalArgumentException for a name or prefix the server refuses, or a follow that
   *     would put the set over the server's limit of entries; nothing is sent
   */
  CompletableFuture<Void> change(
      String setting, boolean add, Collection<String> documents, Collection<String> prefixes) {
    List<String> names = checked(setting, "documents", documents, false);
    List<String> starts = checked(setting, "prefixes", prefixes, true);
    String over = add ? overLimit(setting, now, names, starts) : null;
    if (over != null) {
      throw new IllegalArgumentException(over);
    }
    CompletableFuture<Void> done = new CompletableFuture<>();
    if (!engine.run(() -> change(setting, add, names, starts, done))) {
      done.completeExceptionally(HandoffException.clientClosed());
    }
    return done;
  }

  private void change(
      String setting,
      boolean add,
      List<String> names,
      List<String> starts,
      CompletableFuture<Void> done) {
    if (engine.handoff.isClosed()) {
      done.completeExceptionally(HandoffException.clientClosed());
      return;
    }
    // Checked again here, with the changes still waiting for answers taken: another thread's follow
    // may have been taken since, and each change sent may be (one lost with its connection is).
    // Over the limit, the node would refuse the next Hello, and the client would stop for good.
    String over = add ? overLimit(setting, pending(), names, starts) : null;
    if (over != null) {
      done.completeExceptionally(new IllegalArgumentException(over));
      return;
    }
    Link l = engine.current();
    if (l == null || !l.welcomed) {
      now = changed(now, add, names, starts);
      if (l != null && l.helloFollows != null && !l.helloFollows.sameAs(now)) {
        l.restart("the follow set changed while connecting");
      }
      done.complete(null);
      return;
    }
    if (sent.size() >= MAX_SENT) {
      done.completeExceptionally(
          HandoffException.limit(
              null,
              MAX_SENT
                  + " follows and unfollows are waiting for answers (theirs or an earlier one's)"));
      return;
    }
    Change c = new Change(add, names, starts, done);
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    // Attached before the request goes: it runs on the event loop as the answer is handled, or
    // within register() if too many requests wait.
    answer.whenComplete(
        (frame, error) -> {
          if (!c.answered) {
            if (error != null) {
              sent.remove(c); // Refused: it changes nothing, so nothing waits for it.
              takeAnswered();
              done.completeExceptionally(error);
              return;
            }
            c.answered = true;
            takeAnswered();
            done.complete(null);
          }
        });
    sent.add(c);
    ClientFrame.Builder frame = ClientFrame.newBuilder();
    if (add) {
      Follow.Builder follow = Follow.newBuilder().setSpec(spec(names, starts));
      engine.replicas.positions(follow::addPositions);
      frame.setFollow(follow);
    } else {
      frame.setUnfollow(Unfollow.newBuilder().setSpec(spec(names, starts)));
    }
    long id = engine.handoff.register(answer); // Fails answer at once when too many wait.
    if (id > 0) {
      l.channel.send(frame.setRequestId(id).build());
    }
  }

  /**
   * The connection ended before the answers of the changes sent on it, and the client connects
   * again: each is taken, in the order sent, since the next Hello carries the set (a change is
   * idempotent, so one the node applied too is none the worse). Called before the requests waiting
   * fail; a client closed or stopped for good lets them fail instead.
   */
  void connectionLost() {
    List<Change> lost = sent.stream().filter(c -> !c.answered).toList();
    lost.forEach(c -> c.answered = true);
    takeAnswered();
    lost.forEach(c -> c.done.complete(null)); // Once the set is what the next Hello carries.
  }

  /** The set once every change sent and not refused is taken. */
  private Spec pending() {
    Spec set = now;
    for (Change c : sent) {
      set = changed(set, c.add, c.documents, c.prefixes);
    }
    return set;
  }

  /** Changes sent and not yet taken (for tests). */
  int sent() {
    return sent.size();
  }

  /** Takes the changes answered, in the order sent, up to the first still waiting. */
  private void takeAnswered() {
    while (!sent.isEmpty() && sent.peekFirst().answered) {
      Change c = sent.pollFirst();
      now = changed(now, c.add, c.documents, c.prefixes);
    }
  }

  private static Spec changed(Spec was, boolean add, List<String> names, List<String> starts) {
    LinkedHashSet<String> documents = new LinkedHashSet<>(was.documents);
    LinkedHashSet<String> prefixes = new LinkedHashSet<>(was.prefixes);
    boolean all = was.all;
    if (add) {
      documents.addAll(names);
      prefixes.addAll(starts);
    } else {
      names.forEach(documents::remove);
      starts.forEach(prefixes::remove);
      // Following all is the prefix "": only unfollowing that prefix ends it.
      all = all && !starts.contains("");
    }
    return new Spec(all, List.copyOf(documents), List.copyOf(prefixes));
  }

  /** What is wrong with following these too, from {@code was}; {@code null} if nothing. */
  private static String overLimit(
      String setting, Spec was, List<String> names, List<String> starts) {
    List<String> documents = new ArrayList<>(was.documents);
    documents.addAll(names);
    List<String> prefixes = new ArrayList<>(was.prefixes);
    prefixes.addAll(starts);
    if (was.all) {
      prefixes.add("");
    }
    return FollowSet.entriesProblem(setting, documents, prefixes);
  }

  private static List<String> checked(
      String setting, String what, Collection<String> given, boolean prefix) {
    if (given == null) {
      throw new IllegalArgumentException(setting + ": " + what + " must not be null");
    }
    List<String> list = new ArrayList<>(given.size());
    for (String s : given) {
      if (s == null) {
        throw new IllegalArgumentException(setting + ": " + what + " must not contain null");
      }
      String problem =
          prefix
              ? Names.prefixProblem(setting + ": a prefix", s, FollowSet.MAX_NAME_BYTES)
              : Names.problem(setting + ": a document name", s, FollowSet.MAX_NAME_BYTES);
      if (problem != null) {
        throw new IllegalArgumentException(problem);
      }
      list.add(s);
    }
    return List.copyOf(new LinkedHashSet<>(list));
  }

  private static FollowSpec spec(List<String> documents, List<String> prefixes) {
    return FollowSpec.newBuilder().addAllDocuments(documents).addAllPrefixes(prefixes).build();
  }

  /**
   * One change sent: taken once it and every change sent before it are answered, unless refused.
   */
  private static final class Change {
    final boolean add;
    final List<String> documents;
    final List<String> prefixes;
    final CompletableFuture<Void> done;
    // Answered with the server's SyncReport, or lost with a connection the client makes again: to
    // be taken once every change before it is.
    boolean answered;

    Change(
        boolean add, List<String> documents, List<String> prefixes, CompletableFuture<Void> done) {
      this.add = add;
      this.documents = documents;
      this.prefixes = prefixes;
      this.done = done;
    }
  }
}
