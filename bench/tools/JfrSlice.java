import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * The CPU samples of a JFR recording (async-profiler's jfr output, or JFR's own) taken between two
 * instants, as collapsed stacks (frames root first, joined by ';', then the count): what a flame
 * graph tool reads, and what bench/tools/storm_profile.sh leaves for a storm.
 *
 * <pre>java bench/tools/JfrSlice.java RECORDING.jfr FROM TO &gt; out.collapsed</pre>
 *
 * FROM and TO are ISO-8601 instants (2026-12-04T23:31:56.204Z). Run as a single source file (Java
 * 11+), no build.
 */
public final class JfrSlice {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: java JfrSlice.java RECORDING.jfr FROM TO");
      System.exit(2);
    }
    Instant from = Instant.parse(args[1]);
    Instant to = Instant.parse(args[2]);
    Map<String, Integer> stacks = new TreeMap<>();
    int taken = 0;
    for (RecordedEvent e : RecordingFile.readAllEvents(Path.of(args[0]))) {
      String type = e.getEventType().getName();
      if (!type.equals("jdk.ExecutionSample") && !type.equals("jdk.NativeMethodSample")) {
        continue;
      }
      Instant at = e.getStartTime();
      if (at.isBefore(from) || at.isAfter(to) || e.getStackTrace() == null) {
        continue;
      }
      List<RecordedFrame> frames = e.getStackTrace().getFrames();
      StringBuilder line = new StringBuilder();
      for (int i = frames.size() - 1; i >= 0; i--) {
        RecordedFrame f = frames.get(i);
        if (line.length() > 0) {
          line.append(';');
        }
        String owner = f.getMethod().getType().getName();
        line.append(owner.isEmpty() ? "" : owner.replace('.', '/') + '.')
            .append(f.getMethod().getName());
      }
      stacks.merge(line.toString(), 1, Integer::sum);
      taken++;
    }
    StringBuilder out = new StringBuilder();
    stacks.forEach((stack, n) -> out.append(stack).append(' ').append(n).append('\n'));
    System.out.print(out);
    System.err.println(taken + " samples between " + from + " and " + to);
  }
}
