package io.handoff.loadtest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * A self-contained HTML page for one run: the command, the figures, latency over time (p50, p90,
 * p99 and max of each second, log scale), deliveries per second, and the latency histogram with its
 * percentiles. Inline SVG only: no scripts, nothing fetched. Stateless.
 */
final class HtmlReport {
  private static final int W = 900;
  private static final int H = 300;
  private static final int LEFT = 70;
  private static final int RIGHT = 20;
  private static final int TOP = 20;
  private static final int BOTTOM = 40;

  private record Series(String name, String color, List<double[]> points) {}

  private HtmlReport() {}

  /** Writes the page for {@code result} to {@code file}. */
  static void write(Path file, String command, Result result) throws IOException {
    Files.writeString(file, render(command, result), StandardCharsets.UTF_8);
  }

  static String render(String command, Result result) {
    StringBuilder b = new StringBuilder(64 * 1024);
    String title = "Handoff load test: " + result.scenario();
    b.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
        .append(esc(title))
        .append("</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:960px}")
        .append("table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}")
        .append("tr:nth-child(even){background:#f3f3f3}code{background:#eee;padding:2px}")
        .append(".ok{color:#070}.failed{color:#b00}svg{background:#fff;border:1px solid #ccc}")
        .append("</style></head><body>\n");
    b.append("<h1>").append(esc(title)).append("</h1>\n");
    b.append("<p><code>")
        .append(esc(command))
        .append("</code><br>")
        .append(esc(ZonedDateTime.now().format(DateTimeFormatter.RFC_1123_DATE_TIME)))
        .append("</p>\n");
    b.append(result.ok() ? "<h2 class=\"ok\">OK</h2>\n" : "<h2 class=\"failed\">FAILED</h2>\n");
    if (!result.ok()) {
      b.append("<ul>");
      for (String p : result.problems()) {
        b.append("<li>").append(esc(p)).append("</li>");
      }
      b.append("</ul>\n");
    }
    b.append("<table>");
    for (Map.Entry<String, Object> e : result.fields().entrySet()) {
      Object v = e.getValue();
      b.append("<tr><td>")
          .append(esc(e.getKey()))
          .append("</td><td>")
          .append(esc(v instanceof Double d ? Json.number(d) : String.valueOf(v)))
          .append("</td></tr>");
    }
    b.append("</table>\n");
    for (String n : result.notes()) {
      b.append("<p>").append(esc(n)).append("</p>\n");
    }
    Timeline timeline = result.timeline();
    if (timeline != null && !timeline.samples().isEmpty()) {
      latencyOverTime(b, timeline.samples());
      ratesOverTime(b, timeline.samples());
      histogram(b, timeline.total());
    }
    b.append("</body></html>\n");
    return b.toString();
  }

  private static void latencyOverTime(StringBuilder b, List<Timeline.Sample> samples) {
    List<double[]> p50 = new ArrayList<>();
    List<double[]> p90 = new ArrayList<>();
    List<double[]> p99 = new ArrayList<>();
    List<double[]> max = new ArrayList<>();
    for (Timeline.Sample s : samples) {
      if (s.timed() == 0) {
        continue;
      }
      p50.add(new double[] {s.seconds(), s.p50()});
      p90.add(new double[] {s.seconds(), s.p90()});
      p99.add(new double[] {s.seconds(), s.p99()});
      max.add(new double[] {s.seconds(), s.max()});
    }
    b.append("<h2>Latency over time</h2>\n<p>Each point is one second of deliveries: receive time")
        .append(" minus the write's intended send time, in ms (log scale).</p>\n");
    if (p50.isEmpty()) {
      b.append("<p>No timed deliveries.</p>\n");
      return;
    }
    chart(
        b,
        "seconds",
        "ms",
        true,
        List.of(
            new Series("p50", "#1f77b4", p50),
            new Series("p90", "#2ca02c", p90),
            new Series("p99", "#ff7f0e", p99),
            new Series("max", "#d62728", max)));
  }

  private static void ratesOverTime(StringBuilder b, List<Timeline.Sample> samples) {
    List<double[]> sent = new ArrayList<>();
    List<double[]> received = new ArrayList<>();
    List<double[]> connected = new ArrayList<>();
    Timeline.Sample prev = null;
    for (Timeline.Sample s : samples) {
      if (prev != null && s.seconds() > prev.seconds()) {
        double dt = s.seconds() - prev.seconds();
        sent.add(new double[] {s.seconds(), (s.sent() - prev.sent()) / dt});
        received.add(new double[] {s.seconds(), (s.received() - prev.received()) / dt});
      }
      connected.add(new double[] {s.seconds(), s.connected()});
      prev = s;
    }
    b.append("<h2>Throughput and connections</h2>\n");
    if (!sent.isEmpty()) {
      chart(
          b,
          "seconds",
          "per second",
          false,
          List.of(
              new Series("writes sent/s", "#1f77b4", sent),
              new Series("deliveries/s", "#2ca02c", received)));
    }
    chart(b, "seconds", "devices", false, List.of(new Series("connected", "#9467bd", connected)));
  }

  private static void histogram(StringBuilder b, Histogram h) {
    b.append("<h2>Latency histogram</h2>\n");
    if (h.getTotalCount() == 0) {
      b.append("<p>No timed deliveries.</p>\n");
      return;
    }
    List<double[]> bars = new ArrayList<>();
    for (HistogramIterationValue v : h.logarithmicBucketValues(10, 1.25)) {
      if (v.getCountAddedInThisIterationStep() > 0) {
        bars.add(
            new double[] {
              Math.max(0.001, v.getValueIteratedTo() / 1000.0), v.getCountAddedInThisIterationStep()
            });
      }
    }
    b.append("<p>Deliveries per latency bucket (buckets grow by 25%; ms, log scale).</p>\n");
    bars(b, bars);
    b.append("<table><tr><th>percentile</th><th>ms</th></tr>");
    for (double p : new double[] {50, 75, 90, 95, 99, 99.9, 99.99, 100}) {
      b.append("<tr><td>")
          .append(Json.number(p))
          .append("</td><td>")
          .append(Json.number(Timeline.ms(h.getValueAtPercentile(p))))
          .append("</td></tr>");
    }
    b.append("</table>\n<p>").append(h.getTotalCount()).append(" timed deliveries.</p>\n");
  }

  private static void chart(
      StringBuilder b, String xLabel, String yLabel, boolean logY, List<Series> series) {
    double xMin = Double.MAX_VALUE;
    double xMax = -Double.MAX_VALUE;
    double yMin = Double.MAX_VALUE;
    double yMax = -Double.MAX_VALUE;
    for (Series s : series) {
      for (double[] p : s.points()) {
        xMin = Math.min(xMin, p[0]);
        xMax = Math.max(xMax, p[0]);
        yMin = Math.min(yMin, p[1]);
        yMax = Math.max(yMax, p[1]);
      }
    }
    if (xMin == Double.MAX_VALUE) {
      return;
    }
    if (xMax <= xMin) {
      xMax = xMin + 1;
    }
    Scale y = logY ? Scale.log(yMin, yMax) : Scale.linear(0, yMax <= 0 ? 1 : yMax * 1.1);
    double x0 = xMin;
    double x1 = xMax;
    svgOpen(b);
    for (double t : y.ticks()) {
      double py = TOP + (H - TOP - BOTTOM) * (1 - y.at(t));
      b.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  + "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
              LEFT,
              py,
              W - RIGHT,
              py,
              LEFT - 5,
              py + 4,
              label(t)));
    }
    for (double t : Scale.linear(x0, x1).ticks()) {
      double px = LEFT + (W - LEFT - RIGHT) * (t - x0) / (x1 - x0);
      b.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
              px,
              H - BOTTOM + 15,
              label(t)));
    }
    axisLabels(b, xLabel, yLabel);
    int legend = 0;
    for (Series s : series) {
      StringBuilder path = new StringBuilder();
      for (double[] p : s.points()) {
        double px = LEFT + (W - LEFT - RIGHT) * (p[0] - x0) / (x1 - x0);
        double py = TOP + (H - TOP - BOTTOM) * (1 - y.at(p[1]));
        path.append(path.length() == 0 ? "M" : "L")
            .append(String.format(Locale.ROOT, "%.1f,%.1f", px, py));
      }
      b.append("<path fill=\"none\" stroke-width=\"1.5\" stroke=\"")
          .append(s.color())
          .append("\" d=\"")
          .append(path)
          .append("\"/>\n");
      b.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                  + "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n",
              LEFT + 10 + legend * 130,
              TOP - 15,
              s.color(),
              LEFT + 25 + legend * 130,
              TOP - 6,
              esc(s.name())));
      legend++;
    }
    b.append("</svg>\n");
  }

  private static void bars(StringBuilder b, List<double[]> bars) {
    double xMin = bars.get(0)[0];
    double xMax = bars.get(bars.size() - 1)[0];
    double cMax = 0;
    for (double[] bar : bars) {
      cMax = Math.max(cMax, bar[1]);
    }
    Scale x = Scale.log(xMin, xMax * 1.3);
    Scale y = Scale.linear(0, cMax * 1.1);
    svgOpen(b);
    for (double t : x.ticks()) {
      double px = LEFT + (W - LEFT - RIGHT) * x.at(t);
      b.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                  + "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
              px,
              TOP,
              px,
              H - BOTTOM,
              px,
              H - BOTTOM + 15,
              label(t)));
    }
    for (double t : y.ticks()) {
      double py = TOP + (H - TOP - BOTTOM) * (1 - y.at(t));
      b.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
              LEFT - 5,
              py + 4,
              label(t)));
    }
    axisLabels(b, "ms", "deliveries");
    double barWidth = Math.max(2, (W - LEFT - RIGHT) / (double) Math.max(40, bars.size()) * 0.8);
    for (double[] bar : bars) {
      double px = LEFT + (W - LEFT - RIGHT) * x.at(bar[0]);
      double top = TOP + (H - TOP - BOTTOM) * (1 - y.at(bar[1]));
      b.append(
          String.format(
              Locale.ROOT,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\"/>\n",
              px - barWidth,
              top,
              barWidth,
              H - BOTTOM - top));
    }
    b.append("</svg>\n");
  }

  private static void svgOpen(StringBuilder b) {
    b.append(
        String.format(
            Locale.ROOT,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\">\n"
                + "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>"
                + "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n",
            W,
            H,
            LEFT,
            H - BOTTOM,
            W - RIGHT,
            H - BOTTOM,
            LEFT,
            TOP,
            LEFT,
            H - BOTTOM));
  }

  private static void axisLabels(StringBuilder b, String xLabel, String yLabel) {
    b.append(
        String.format(
            Locale.ROOT,
            "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>"
                + "<text x=\"15\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\""
                + " transform=\"rotate(-90 15 %d)\">%s</text>\n",
            (W + LEFT) / 2,
            H - 5,
            esc(xLabel),
            (H - BOTTOM + TOP) / 2,
            (H - BOTTOM + TOP) / 2,
            esc(yLabel)));
  }

  /** A tick label: at most six significant digits, no trailing zeros. */
  private static String label(double v) {
    return new java.math.BigDecimal(v)
        .round(new java.math.MathContext(6))
        .stripTrailingZeros()
        .toPlainString();
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }

  /** Maps values to [0, 1] along an axis, and chooses tick values. */
  private record Scale(double min, double max, boolean log) {
    static Scale linear(double min, double max) {
      return new Scale(min, max <= min ? min + 1 : max, false);
    }

    static Scale log(double min, double max) {
      double lo = Math.pow(10, Math.floor(Math.log10(Math.max(min, 0.001))));
      double hi = Math.pow(10, Math.ceil(Math.log10(Math.max(max, lo * 10))));
      return new Scale(lo, hi <= lo ? lo * 10 : hi, true);
    }

    double at(double v) {
      if (log) {
        double c = Math.max(v, min);
        return (Math.log10(c) - Math.log10(min)) / (Math.log10(max) - Math.log10(min));
      }
      return (v - min) / (max - min);
    }

    List<Double> ticks() {
      List<Double> out = new ArrayList<>();
      if (log) {
        for (double t = min; t <= max * 1.0001; t *= 10) {
          out.add(t);
        }
      } else {
        double step = niceStep((max - min) / 5);
        for (long k = (long) Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) {
          out.add(k * step);
        }
      }
      return out;
    }

    private static double niceStep(double raw) {
      double p = Math.pow(10, Math.floor(Math.log10(raw)));
      double f = raw / p;
      return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    }
  }
}
