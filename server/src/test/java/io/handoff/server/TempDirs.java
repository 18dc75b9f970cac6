package io.handoff.server;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * What the tests' processes leave on disk: the directory a Redis process (or Cluster) ran in is
 * deleted once the process has exited, never while it runs (Redis may still rewrite its files). Its
 * owner deletes it when closed, and {@link #closeAtExit} closes whatever is still open as the JVM
 * exits (a shared process, one a test left open), so a run leaves nothing behind in {@code
 * java.io.tmpdir}. A deletion that fails is printed, never thrown: it must not fail a test.
 */
public final class TempDirs {
  private static final Map<AutoCloseable, Thread> openAtExit =
      Collections.synchronizedMap(new IdentityHashMap<>());

  private TempDirs() {}

  /** Deletes {@code path} and everything under it; one gone already is fine, a failure printed. */
  public static void deleteQuietly(Path path) {
    if (path == null) {
      return;
    }
    try {
      Files.walkFileTree(
          path,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
                throws IOException {
              Files.deleteIfExists(file);
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
              if (e instanceof NoSuchFileException) {
                return FileVisitResult.CONTINUE;
              }
              throw e;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
              if (e != null) {
                throw e;
              }
              Files.deleteIfExists(dir);
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (NoSuchFileException gone) {
      // Deleted already.
    } catch (IOException | RuntimeException e) {
      System.err.println("could not delete the test directory " + path + ": " + e);
    }
  }

  /**
   * Closes {@code owner} as the JVM exits (a shutdown hook of its own, so owners close side by
   * side), unless {@link #closedBeforeExit} was called for it first.
   */
  public static void closeAtExit(AutoCloseable owner, String name) {
    Thread hook =
        new Thread(
            () -> {
              try {
                owner.close();
              } catch (Exception e) {
                System.err.println("could not close " + name + " at exit: " + e);
              }
            },
            "close-at-exit-" + name);
    openAtExit.put(owner, hook);
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** {@code owner} was closed: nothing to do for it at exit. */
  public static void closedBeforeExit(AutoCloseable owner) {
    Thread hook = openAtExit.remove(owner);
    if (hook == null || hook == Thread.currentThread()) {
      return;
    }
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // The hook runs (or ran) anyway; closing twice does nothing.
    }
  }

  /**
   * Waits up to {@code seconds} for {@code process} to exit; whether it has (a process never
   * started, null, has).
   */
  public static boolean exited(Process process, long seconds) {
    if (process == null) {
      return true;
    }
    try {
      return process.waitFor(seconds, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !process.isAlive();
    }
  }
}
