/**
 * The bundled load tester, {@code handoff-loadtest.jar}: scenarios that drive a Handoff node (or
 * several) through many {@link io.handoff.client.HandoffClient}s in one JVM and check what comes
 * back.
 *
 * <p>What lives here: {@link io.handoff.loadtest.Main} (the command line), the two runs ({@link
 * io.handoff.loadtest.WriteRun} for {@code fanout} and {@code reconnect}, {@link
 * io.handoff.loadtest.IdleRun} for {@code idle}, {@link io.handoff.loadtest.HandoffRun} for {@code
 * handoff}), the fleet of simulated devices ({@link io.handoff.loadtest.Fleet}, {@link
 * io.handoff.loadtest.Device}), the open-loop {@link io.handoff.loadtest.RateSchedule}, the
 * per-device accounting of versions ({@link io.handoff.loadtest.VersionTracker}) and the outputs
 * ({@link io.handoff.loadtest.Result}, {@link io.handoff.loadtest.HtmlReport}).
 *
 * <p>Threads: every client lives on one loop of a single shared event-loop group (epoll or NIO); a
 * device's listener, its {@link io.handoff.loadtest.VersionTracker}s and its resume bookkeeping are
 * touched only there. One scheduler thread submits writes (or offers) at their intended times; the
 * main thread connects the fleet, prints progress once a second and builds the result after every
 * client is closed. Counters shared between threads are {@link
 * java.util.concurrent.atomic.LongAdder}s and HdrHistogram {@link org.HdrHistogram.Recorder}s.
 */
package io.handoff.loadtest;
