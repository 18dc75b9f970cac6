package io.handoff.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server's layout as rules: the transport knows frames and bytes, not features; a feature
 * reaches another only through that one's public face (listed here and in its package-info.java);
 * engine implementations are reached only through the store contracts.
 */
class ArchitectureTest {
  private static final String ROOT = "io.handoff.server";

  /** Each feature package and the types other packages may use; everything else is its own. */
  private static final Map<String, Set<String>> FACES =
      Map.of(
          "sync",
          Set.of(
              "DocumentStore",
              "Broker",
              "DocumentEvent",
              "SyncResult",
              "WriteOutcome",
              "FollowFilter",
              "WriteValidator",
              "DocumentSession",
              "Fingerprint",
              "DocumentTag",
              "StoreUnavailableException",
              "OutcomeUnknownException"),
          "handoff",
          Set.of("HandoffStore", "HandoffLimits", "HandoffService", "HandoffSession"),
          "devices",
          Set.of(
              "SessionStore",
              "DeviceSessions",
              "ApiException",
              "ApiHandler",
              "TokenKeeper",
              "SessionGone",
              "ApprovalStore",
              "ApprovalConfig",
              "DeviceApprovals",
              "ApprovalMetrics",
              "ApprovalPrompts"),
          "session",
          Set.of("Connection", "Deadline", "Hub", "Sessions", "QueueBudget"));

  private static JavaClasses classes;

  @BeforeAll
  static void importClasses() {
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(ROOT);
  }

  @Test
  void transportDependsOnNoFeature() {
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".transport..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            ROOT + ".session..",
            ROOT + ".sync..",
            ROOT + ".handoff..",
            ROOT + ".devices..",
            ROOT + ".engine..")
        .because("the transport knows frames and bytes, not features")
        .check(classes);
  }

  @Test
  void featuresReachEachOtherOnlyThroughTheirPublicFace() {
    FACES.forEach(
        (feature, face) ->
            noClasses()
                .that()
                .resideOutsideOfPackage(ROOT + "." + feature + "..")
                .should()
                .dependOnClassesThat(internalOf(feature, face))
                .because(feature + "'s public face is " + face + " (see its package-info.java)")
                .check(classes));
  }

  @Test
  void utilDependsOnNothingElseOfTheServer() {
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".util..")
        .should()
        .dependOnClassesThat(
            JavaClass.Predicates.resideInAPackage(ROOT + "..")
                .and(JavaClass.Predicates.resideOutsideOfPackage(ROOT + ".util..")))
        .because("any part of the server may use util, so util may use none")
        .check(classes);
  }

  @Test
  void documentsAndHandoffNeverSeeNetty() {
    noClasses()
        .that()
        .resideInAnyPackage(ROOT + ".sync..", ROOT + ".handoff..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("io.netty..")
        .because("features reach the device through the session's Connection only")
        .check(classes);
  }

  @Test
  void engineImplementationsAreReachedOnlyThroughTheContracts() {
    noClasses()
        .that()
        .resideOutsideOfPackages(ROOT + ".engine.memory..", ROOT + ".engine.redis..")
        .and()
        .doNotHaveFullyQualifiedName(ROOT + ".Main")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(ROOT + ".engine.memory..", ROOT + ".engine.redis..")
        .because("only the command line picks an engine; everything else sees the contracts")
        .check(classes);
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".engine.memory..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage(ROOT + ".engine.redis..")
        .check(classes);
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".engine.redis..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage(ROOT + ".engine.memory..")
        .check(classes);
  }

  @Test
  void featuresDoNotDependOnTheNodeThatWiresThem() {
    noClasses()
        .that()
        .resideInAnyPackage(
            ROOT + ".transport..",
            ROOT + ".session..",
            ROOT + ".sync..",
            ROOT + ".handoff..",
            ROOT + ".devices..",
            ROOT + ".engine..")
        .should()
        .dependOnClassesThat()
        .haveFullyQualifiedName(ROOT + ".HandoffServer")
        .orShould()
        .dependOnClassesThat()
        .haveFullyQualifiedName(ROOT + ".Main")
        .check(classes);
  }

  /** Classes of {@code feature} that are not part of its face (nested types follow their outer). */
  private static DescribedPredicate<JavaClass> internalOf(String feature, Set<String> face) {
    String pkg = ROOT + "." + feature;
    return DescribedPredicate.describe(
        "internals of " + pkg,
        c -> c.getPackageName().equals(pkg) && !face.contains(topLevel(c).getSimpleName()));
  }

  private static JavaClass topLevel(JavaClass c) {
    JavaClass t = c;
    while (t.getEnclosingClass().isPresent()) {
      t = t.getEnclosingClass().get();
    }
    return t;
  }
}
