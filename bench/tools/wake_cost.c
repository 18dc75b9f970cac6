/*
 * What one sleep and wake-up costs a thread on this machine, in CPU time: a loop that arms a
 * timerfd for PERIOD_US and sleeps in epoll_wait until it fires, as an event loop waits for its next
 * write or its next frame, N times; prints user, system and total CPU per wake-up (getrusage) and
 * the wall time per wake-up, for each period given.
 *
 *   gcc -O2 -o /tmp/wake_cost bench/tools/wake_cost.c && /tmp/wake_cost 130 1000 5000
 *
 * Run it on a quiet machine; BENCHMARKS.md ("The load tester no longer preempts the server") has
 * the figures of the benchmark VM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>

static double micros(struct timeval t) { return t.tv_sec * 1e6 + t.tv_usec; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PERIOD_US...\n", argv[0]);
    return 2;
  }
  int ep = epoll_create1(0);
  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = tfd};
  if (ep < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) {
    perror("epoll/timerfd");
    return 1;
  }
  for (int a = 1; a < argc; a++) {
    long period = atol(argv[a]);
    if (period <= 0 || period >= 1000000) {
      fprintf(stderr, "period must be 1 to 999999 µs, was %s\n", argv[a]);
      return 2;
    }
    long n = 3000000 / (period + 20); /* about 3 s per period */
    struct rusage r0, r1;
    struct timespec w0, w1;
    getrusage(RUSAGE_SELF, &r0);
    clock_gettime(CLOCK_MONOTONIC, &w0);
    for (long i = 0; i < n; i++) {
      struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = period * 1000}};
      struct epoll_event out;
      timerfd_settime(tfd, 0, &its, NULL);
      epoll_wait(ep, &out, 1, -1);
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);
    getrusage(RUSAGE_SELF, &r1);
    double user = micros(r1.ru_utime) - micros(r0.ru_utime);
    double sys = micros(r1.ru_stime) - micros(r0.ru_stime);
    double wall = (w1.tv_sec - w0.tv_sec) * 1e6 + (w1.tv_nsec - w0.tv_nsec) / 1e3;
    printf("period %ld µs, %ld wake-ups: CPU per wake-up %.2f µs (user %.2f, system %.2f), wall %.1f µs\n",
           period, n, (user + sys) / n, user / n, sys / n, wall / n);
  }
  return 0;
}
