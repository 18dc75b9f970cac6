package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The metrics docs/operations.md names are the ones a running node exports: each of Handoff's own
 * with its type and its labels' names and values, every family exported is documented (Handoff's by
 * name, the JVM's and Netty's by the prefixes the docs give), and every series has the tag {@code
 * node}.
 */
class MetricsDocumentedTest {
  private static final Path OPERATIONS = Path.of("..", "docs", "operations.md");
  private static final Pattern NAMED =
      Pattern.compile("`(handoff_[a-z0-9_]+)(?:\\{([a-z_]+)=((?:\"[a-z_]+\"(?:\\\\\\|)?)+)})?`");
  private static final Pattern PREFIX = Pattern.compile("`([a-z_]+)_\\*`");

  /** A documented family: its type, and its label's name and values (none: no label). */
  record Documented(String type, String label, Set<String> values) {}

  /** An exported family: its type, and the values of each label but {@code node} and {@code le}. */
  record Exported(String type, Map<String, Set<String>> labels, boolean everyHasNode) {}

  static Map<String, Documented> documented(String operations) {
    int start = operations.indexOf("## Metrics");
    int end = operations.indexOf("### What to alert on");
    assertTrue(start >= 0 && end > start, "operations.md has its Metrics section");
    Map<String, Documented> out = new TreeMap<>();
    for (String line : operations.substring(start, end).split("\n")) {
      if (!line.startsWith("| `handoff_")) {
        continue;
      }
      String[] cells = line.split(" \\| ");
      String names = cells[0].substring(2);
      String type = cells[1].trim();
      Matcher m = NAMED.matcher(names);
      int found = 0;
      while (m.find()) {
        found++;
        Set<String> values = new TreeSet<>();
        if (m.group(2) != null) {
          for (String v : m.group(3).split("\\\\\\|")) {
            values.add(v.replace("\"", ""));
          }
        }
        out.put(m.group(1), new Documented(type, m.group(2), values));
      }
      assertTrue(found > 0, "a row naming no metric: " + line);
    }
    return out;
  }

  static List<String> documentedPrefixes(String operations) {
    int start = operations.indexOf("Also the JVM");
    String para = operations.substring(start, operations.indexOf("\n\n", start));
    List<String> out = new ArrayList<>();
    Matcher m = PREFIX.matcher(para);
    while (m.find()) {
      out.add(m.group(1) + "_");
    }
    Matcher whole = Pattern.compile("`([a-z_]+[a-z])`").matcher(para);
    while (whole.find()) {
      out.add(whole.group(1)); // A family named whole.
    }
    return out;
  }

  static Map<String, Exported> exported(String scrape) {
    Map<String, String> types = new TreeMap<>();
    for (String line : scrape.split("\n")) {
      if (line.startsWith("# TYPE ")) {
        String[] parts = line.split(" ");
        types.put(parts[2], parts[3]);
      }
    }
    Map<String, Map<String, Set<String>>> labels = new TreeMap<>();
    Map<String, Boolean> node = new TreeMap<>();
    Pattern label = Pattern.compile("([a-zA-Z_]+)=\"([^\"]*)\"");
    for (String line : scrape.split("\n")) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int brace = line.indexOf('{');
      String sample = brace < 0 ? line.substring(0, line.indexOf(' ')) : line.substring(0, brace);
      String family = sample;
      for (String suffix : new String[] {"_bucket", "_count", "_sum"}) {
        String base = sample.substring(0, Math.max(0, sample.length() - suffix.length()));
        if (sample.endsWith(suffix) && "histogram".equals(types.get(base))) {
          family = base;
        }
      }
      Map<String, Set<String>> ls = labels.computeIfAbsent(family, f -> new TreeMap<>());
      boolean hasNode = false;
      if (brace >= 0) {
        Matcher m = label.matcher(line.substring(brace, line.lastIndexOf('}')));
        while (m.find()) {
          if (m.group(1).equals("node")) {
            hasNode = true;
          } else if (!m.group(1).equals("le")) {
            ls.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(m.group(2));
          }
        }
      }
      node.merge(family, hasNode, Boolean::logicalAnd);
    }
    Map<String, Exported> out = new TreeMap<>();
    for (Map.Entry<String, Map<String, Set<String>>> e : labels.entrySet()) {
      out.put(e.getKey(), new Exported(types.get(e.getKey()), e.getValue(), node.get(e.getKey())));
    }
    return out;
  }

  @Test
  void everyMetricTheDocsNameIsExportedAsDocumentedAndEveryExportedOneIsDocumented()
      throws Exception {
    String operations = Files.readString(OPERATIONS);
    Map<String, Documented> docs = documented(operations);
    List<String> prefixes = documentedPrefixes(operations);
    assertTrue(docs.size() > 40, "the table parsed: " + docs.keySet());
    Map<String, Exported> exported;
    try (TestServer server = TestServer.start(b -> b.nodeId("docs").admin("127.0.0.1", 0));
        TestDevice phone = TestDevice.connect(server.port(), token("d", "phone"));
        TestDevice tv = TestDevice.connect(server.port(), token("d", "tv"))) {
      phone.hello();
      tv.hello();
      assertTrue(phone.answerTo(phone.write("doc", 1, "f", "v")).hasAck());
      tv.next(ServerFrame::hasDelta);
      exported = exported(MetricsScenariosTest.scrape(server.server.adminPort()));
    }
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, Documented> e : docs.entrySet()) {
      String name = e.getKey();
      Documented d = e.getValue();
      Exported x = exported.get(name);
      if (x == null) {
        problems.add(name + ": documented, not exported");
        continue;
      }
      if (!d.type().equals(x.type())) {
        problems.add(name + ": documented as a " + d.type() + ", exported as a " + x.type());
      }
      Map<String, Set<String>> want = d.label() == null ? Map.of() : Map.of(d.label(), d.values());
      if (!want.equals(x.labels())) {
        problems.add(name + ": documented labels " + want + ", exported " + x.labels());
      }
    }
    for (Map.Entry<String, Exported> e : exported.entrySet()) {
      String family = e.getKey();
      if (!e.getValue().everyHasNode()) {
        problems.add(family + ": a series without the tag node");
      }
      boolean known =
          docs.containsKey(family)
              || (family.endsWith("_max")
                  && "histogram"
                      .equals(
                          docs.getOrDefault(
                                  family.substring(0, family.length() - 4),
                                  new Documented("", null, Set.of()))
                              .type()))
              || prefixes.stream()
                  .anyMatch(p -> p.endsWith("_") ? family.startsWith(p) : family.equals(p));
      if (!known) {
        problems.add(family + ": exported, not documented");
      }
    }
    // Every Handoff metric any document names (a query may name a histogram's bucket series).
    try (java.util.stream.Stream<Path> files = Files.list(OPERATIONS.getParent())) {
      for (Path doc : files.filter(f -> f.toString().endsWith(".md")).sorted().toList()) {
        Matcher m =
            Pattern.compile("\\b(handoff_[a-z0-9_]*[a-z0-9])\\b").matcher(Files.readString(doc));
        while (m.find()) {
          String name = m.group(1).replaceFirst("_(bucket|count|sum)$", "");
          if (!exported.containsKey(name)) {
            problems.add(name + ": named in " + doc.getFileName() + ", not exported");
          }
        }
      }
    }
    assertFalse(exported.isEmpty());
    assertEquals(List.of(), problems, "docs/*.md against the scrape");
  }
}
