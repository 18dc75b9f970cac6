package io.handoff.loadtest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the memory of a server process on this machine: its live heap, the bytes of every object
 * reachable after a full GC ({@code jcmd PID GC.class_histogram}, which collects first, then counts
 * the objects left); the heap in use after a full GC as the collector reports it ({@code jcmd PID
 * GC.run}, then {@code GC.heap_info}), which also counts the allocation buffers the server's
 * threads took between the two commands (with G1 several MB, or hundreds of bytes per connection at
 * 10,000 connections); and its resident set ({@code VmRSS} in {@code /proc/PID/status}), which also
 * counts direct buffers, thread stacks and heap the JVM grew into and kept. Stateless.
 */
final class ServerMemory {
  private static final Pattern G1 =
      Pattern.compile("garbage-first heap\\s+total \\d+K, used (\\d+)K");
  private static final Pattern GENERATION =
      Pattern.compile(
          "^\\s*(?:PSYoungGen|ParOldGen|def new generation|tenured generation|"
              + "ZHeap|Shenandoah|\\S+ heap)\\s+total \\d+K, used (\\d+)K",
          Pattern.MULTILINE);
  private static final Pattern ZGC = Pattern.compile("ZHeap\\s+used (\\d+)([KMG])");
  private static final Pattern SHENANDOAH = Pattern.compile("committed, (\\d+)([KMG]) used");
  private static final Pattern RSS = Pattern.compile("VmRSS:\\s+(\\d+) kB");
  private static final Pattern HISTOGRAM_TOTAL =
      Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)\\s*$", Pattern.MULTILINE);
  private static final long JCMD_TIMEOUT_SECONDS = 60;

  /**
   * One reading: live bytes (class histogram), heap in use after a full GC (heap_info), resident
   * set; -1 for what could not be read, with the reason in {@code error}.
   */
  record Sample(long liveBytes, long heapUsedBytes, long rssBytes, String error) {}

  private ServerMemory() {}

  /** Runs a full GC in process {@code pid}, then reads its heap and resident set. */
  static Sample sample(long pid) {
    StringBuilder errors = new StringBuilder();
    long heap = -1;
    long live = -1;
    try {
      live = parseHistogramTotal(jcmd(pid, "GC.class_histogram"));
      if (live < 0) {
        errors.append("could not read the total of jcmd GC.class_histogram; ");
      }
      jcmd(pid, "GC.run");
      heap = parseHeapUsed(jcmd(pid, "GC.heap_info"));
      if (heap < 0) {
        errors.append("could not read the heap from jcmd GC.heap_info; ");
      }
    } catch (IOException e) {
      errors.append("jcmd failed: ").append(e.getMessage()).append("; ");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      errors.append("interrupted; ");
    }
    long rss = -1;
    try {
      rss = parseRss(Files.readString(Path.of("/proc", Long.toString(pid), "status")));
    } catch (IOException e) {
      errors.append("cannot read /proc/").append(pid).append("/status: ").append(e.getMessage());
    }
    return new Sample(live, heap, rss, errors.length() == 0 ? null : errors.toString());
  }

  /** Bytes of all live objects from the {@code Total} line of a class histogram, or -1. */
  static long parseHistogramTotal(String histogram) {
    Matcher m = HISTOGRAM_TOTAL.matcher(histogram);
    return m.find() ? Long.parseLong(m.group(2)) : -1;
  }

  /** Bytes of heap in use from {@code GC.heap_info} output, or -1. */
  static long parseHeapUsed(String heapInfo) {
    Matcher g1 = G1.matcher(heapInfo);
    if (g1.find()) {
      return Long.parseLong(g1.group(1)) * 1024;
    }
    for (Pattern p : new Pattern[] {ZGC, SHENANDOAH}) {
      Matcher m = p.matcher(heapInfo);
      if (m.find()) {
        return Long.parseLong(m.group(1)) * unit(m.group(2));
      }
    }
    Matcher m = GENERATION.matcher(heapInfo);
    long sum = -1;
    while (m.find()) {
      sum = Math.max(sum, 0) + Long.parseLong(m.group(1)) * 1024;
    }
    return sum;
  }

  private static long unit(String suffix) {
    return switch (suffix) {
      case "G" -> 1024L * 1024 * 1024;
      case "M" -> 1024L * 1024;
      default -> 1024L;
    };
  }

  /** Bytes resident from {@code /proc/PID/status}, or -1. */
  static long parseRss(String status) {
    Matcher m = RSS.matcher(status);
    return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
  }

  private static String jcmd(long pid, String command) throws IOException, InterruptedException {
    Path javaHomeJcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    String exe = Files.isExecutable(javaHomeJcmd) ? javaHomeJcmd.toString() : "jcmd";
    Process p =
        new ProcessBuilder(List.of(exe, Long.toString(pid), command))
            .redirectErrorStream(true)
            .start();
    String out;
    try (InputStream in = p.getInputStream()) {
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    if (!p.waitFor(JCMD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("jcmd " + pid + " " + command + " did not finish");
    }
    if (p.exitValue() != 0) {
      throw new IOException(
          "jcmd " + pid + " " + command + " exited with " + p.exitValue() + ": " + out.strip());
    }
    return out;
  }
}
