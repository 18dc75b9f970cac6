package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every test the READMEs and docs/*.md cite as evidence exists, so that a renamed or deleted test
 * cannot leave a promise citing evidence that is gone. A {@code Class#method} (or {@code
 * Class.method}) names a {@code @Test} or {@code @ParameterizedTest} method of that class, or of a
 * class it extends, in some module's src/test/java; a bare {@code SomethingTest} or {@code
 * SomethingIT} names a class there; a {@code name.test.ts} names a file of client-js/test.
 */
class CitedTestsExistTest {
  private static final Path ROOT = Path.of("..");
  // Not "engine/*ContractTest", a pattern of names, nor "@ParameterizedTest", an annotation.
  private static final Pattern CLASS =
      Pattern.compile("(?<![\\w*@])([A-Z][a-z]\\w*(?:Test|IT))\\b");
  // "Class.java" names the file, not a method.
  private static final Pattern METHOD =
      Pattern.compile("\\b([A-Z][a-z]\\w*(?:Test|IT))[#.](?!java\\b)([a-z]\\w*)");
  private static final Pattern TS_FILE = Pattern.compile("([\\w-]+\\.test\\.ts)\\b");
  private static final Pattern TEST_ANNOTATION =
      Pattern.compile("\\s*@(?:Test|ParameterizedTest)\\b");
  private static final Pattern VOID_METHOD = Pattern.compile("\\bvoid\\s+(\\w+)\\s*\\(");
  // The top-level class, at the start of its line; not a nested one, indented.
  private static final Pattern EXTENDS =
      Pattern.compile("(?m)^(?:\\w+ )*class\\s+\\w+(?:<[^>]*>)?\\s+extends\\s+(?:\\w+\\.)*(\\w+)");

  /** A class of some module's src/test/java: its test methods, and the class it extends. */
  record TestClass(Set<String> tests, String parent) {}

  @Test
  void everyTestTheDocsCiteExists() throws IOException {
    Map<String, TestClass> classes = testClasses();
    List<String> problems = new ArrayList<>();
    int methodsCited = 0;
    for (Path doc : docs()) {
      List<String> lines = Files.readAllLines(doc);
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i);
        String where = ROOT.relativize(doc) + ":" + (i + 1) + ": ";
        Matcher c = CLASS.matcher(line);
        while (c.find()) {
          if (!classes.containsKey(c.group(1))) {
            problems.add(where + c.group(1) + " is no test class");
          }
        }
        Matcher m = METHOD.matcher(line);
        while (m.find()) {
          methodsCited++;
          if (classes.containsKey(m.group(1)) && !declares(classes, m.group(1), m.group(2))) {
            problems.add(where + m.group() + " is no test method of " + m.group(1));
          }
        }
        Matcher ts = TS_FILE.matcher(line);
        while (ts.find()) {
          if (!Files.exists(ROOT.resolve("client-js/test").resolve(ts.group(1)))) {
            problems.add(where + ts.group(1) + " is no file of client-js/test");
          }
        }
      }
    }
    assertTrue(methodsCited > 100, "the docs' Class#method citations parsed: " + methodsCited);
    assertTrue(
        problems.isEmpty(),
        "Tests the docs cite that do not exist (find the test's new name, or drop a claim whose"
            + " test is gone):\n"
            + String.join("\n", problems));
  }

  private static List<Path> docs() throws IOException {
    List<Path> docs = new ArrayList<>();
    docs.add(ROOT.resolve("README.md"));
    docs.add(ROOT.resolve("client-js/README.md"));
    try (Stream<Path> s = Files.list(ROOT.resolve("docs"))) {
      s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
    }
    return docs;
  }

  /** Every class of every module's src/test/java, by simple name. */
  private static Map<String, TestClass> testClasses() throws IOException {
    List<Path> sources = new ArrayList<>();
    try (Stream<Path> modules = Files.list(ROOT)) {
      for (Path module : modules.toList()) {
        Path tests = module.resolve("src/test/java");
        if (Files.isDirectory(tests)) {
          try (Stream<Path> s = Files.walk(tests)) {
            s.filter(p -> p.toString().endsWith(".java")).forEach(sources::add);
          }
        }
      }
    }
    Map<String, TestClass> classes = new HashMap<>();
    for (Path source : sources) {
      String text = Files.readString(source);
      Matcher parent = EXTENDS.matcher(text);
      TestClass parsed = new TestClass(testMethods(text), parent.find() ? parent.group(1) : null);
      String name = source.getFileName().toString().replace(".java", "");
      // Two helpers of one name in two modules: either one's methods count.
      classes.merge(name, parsed, CitedTestsExistTest::merged);
    }
    return classes;
  }

  /** The names of the methods annotated {@code @Test} or {@code @ParameterizedTest}. */
  private static Set<String> testMethods(String source) {
    Set<String> names = new HashSet<>();
    boolean annotated = false;
    // Formatted code: other annotations and comments may come between, the name is on one line.
    for (String line : source.split("\n")) {
      annotated |= TEST_ANNOTATION.matcher(line).lookingAt();
      Matcher m = VOID_METHOD.matcher(line);
      if (annotated && m.find()) {
        names.add(m.group(1));
        annotated = false;
      }
    }
    return names;
  }

  private static TestClass merged(TestClass a, TestClass b) {
    Set<String> tests = new HashSet<>(a.tests());
    tests.addAll(b.tests());
    return new TestClass(tests, a.parent() != null ? a.parent() : b.parent());
  }

  /** Whether the class, or a class of the test sources it extends, has the test method. */
  private static boolean declares(Map<String, TestClass> classes, String name, String method) {
    TestClass c = classes.get(name);
    return c != null
        && (c.tests().contains(method)
            || (c.parent() != null && declares(classes, c.parent(), method)));
  }
}
