package hermes.peer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import hermes.peer.Json.Ev;
import hermes.peer.Json.Running;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * The Kafka Streams side of scripts/kafka/bench.ts: the same topology ({@link BenchTopology}), the
 * same workload ({@link Workload}) and the same three measurements, printed as the same lines and
 * written as the same JSON (bench/peer/result.ts describes it):
 *
 * <ol>
 *   <li>throughput: one instance works through a backlog of events (a shared topic given with
 *       {@code --input-topic}, or one it produces first);
 *   <li>restore: a new instance with an empty state directory rebuilds that state from the
 *       changelogs;
 *   <li>latency: events produced at a steady rate with ts = wall clock, time from producing an
 *       event to reading its running-count output (read_committed): once the instance is RUNNING
 *       and the reader has its partitions, {@code --warmup-seconds} (default 5) at the same rate
 *       whose events are not counted, then {@code --seconds} measured; the p99 also per 2 s of
 *       sending. {@code --warmup-seconds 0}: the earlier bench (3 s after starting, then measured).
 * </ol>
 *
 * <pre>java -jar bench/peer/target/hermes-peer.jar [--events 200000] [--rate 2000] [--seconds 20]
 *   [--guarantee at_least_once|exactly_once] [--commit-interval-ms N] [--brokers 127.0.0.1:9092]
 *   [--input-topic T] [--measure throughput,restore,latency] [--id ID] [--json-out FILE]
 *   [--warmup-seconds 5] [--linger-ms N] (the streams' producers; unset: Kafka Streams' default, 100 ms)</pre>
 */
public final class PeerBench {
  static final int PARTITIONS = 4;
  static final String KAFKA_STREAMS_VERSION = "3.9.2";

  private final Map<String, String> args;
  private final long events;
  private final String guarantee;
  private final String brokers;
  private final String id;
  private final Set<String> measure;
  private final long commitIntervalMs;
  private final Path root;

  PeerBench(Map<String, String> args) throws Exception {
    this.args = args;
    events = Long.parseLong(arg("events", "200000"));
    guarantee = arg("guarantee", "at_least_once");
    if (!guarantee.equals("at_least_once") && !guarantee.equals("exactly_once")) {
      throw new IllegalArgumentException("--guarantee must be at_least_once or exactly_once (as Hermes' runtime.guarantee), got " + guarantee);
    }
    brokers = arg("brokers", "127.0.0.1:9092");
    id = arg("id", Long.toString(System.currentTimeMillis(), 36) + Integer.toHexString((int) (Math.random() * 0xffff)));
    measure = Set.of(arg("measure", "throughput,restore,latency").split(","));
    // Hermes' defaults (runtime.commitIntervalMs unset): 100 ms exactly-once, 5000 ms at-least-once.
    String interval = arg("commit-interval-ms", "");
    commitIntervalMs = interval.isEmpty() ? (guarantee.equals("exactly_once") ? 100 : 5000) : Long.parseLong(interval);
    // Next to the jar (bench/peer/target/state/), not under the OS temp dir, which Kafka Streams
    // warns about: a temp cleaner could delete a checkpoint under a running instance.
    Path jarDir = Path.of(PeerBench.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParent();
    Files.createDirectories(jarDir.resolve("state"));
    root = Files.createTempDirectory(jarDir.resolve("state"), "run-");
  }

  private String arg(String name, String dflt) {
    return args.getOrDefault(name, dflt);
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i < argv.length; i++) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) throw new IllegalArgumentException("expected --name value pairs, got " + argv[i]);
      args.put(argv[i].substring(2), argv[++i]);
    }
    PeerBench bench = new PeerBench(args);
    try {
      bench.run();
    } finally {
      bench.deleteStateDirs();
    }
    // Kafka's clients leave non-daemon threads behind only on failure; do not wait for them.
    System.exit(0);
  }

  void run() throws Exception {
    ObjectNode result = Json.MAPPER.createObjectNode();
    result.put("engine", "kafka-streams");
    result.put("version", KAFKA_STREAMS_VERSION);
    result.put("guarantee", guarantee);
    result.put("events", events);
    result.put("partitions", PARTITIONS);
    result.put("commitIntervalMs", commitIntervalMs);
    result.put("id", id);
    result.putNull("throughput");
    result.putNull("restore");
    result.putNull("latency");

    String app = "bench-ks-" + id;
    String out = "bench-ks-out-" + id;
    String input = arg("input-topic", "");
    if (measure.contains("throughput")) {
      if (input.isEmpty()) {
        input = "bench-ks-in-" + id;
        createTopics(input);
        Workload.produceBacklog(brokers, input, events, PARTITIONS);
      }
      createTopics(out + "-hourly", out + "-running");
      result.set("throughput", throughput(app, input, out));
      save(result);
      if (measure.contains("restore")) {
        result.set("restore", restore(app, input, out));
        save(result);
      }
    }
    if (measure.contains("latency")) {
      result.set("latency", latency());
      save(result);
    }
  }

  /** Written after each step, so a later step's failure keeps what the earlier ones measured. */
  private void save(ObjectNode result) throws java.io.IOException {
    String jsonOut = arg("json-out", "");
    if (!jsonOut.isEmpty()) Files.writeString(Path.of(jsonOut), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(result) + "\n");
  }

  /** The streams settings both sides share: one stream thread, Hermes' commit interval and consumer timings. */
  private Properties streamsConfig(String app, String stateDir) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee.equals("exactly_once") ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitIntervalMs);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.STATE_DIR_CONFIG, root.resolve(stateDir).toString());
    // The timings scripts/kafka/bench.ts gives Hermes' consumers.
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 500);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 20);
    // Unset: Kafka Streams' own default (100 ms), which trades latency for throughput.
    String linger = arg("linger-ms", "");
    if (!linger.isEmpty()) p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), Integer.parseInt(linger));
    return p;
  }

  /** Starts an instance; an exception in its stream thread stops it (and {@link #await} says so). */
  private KafkaStreams start(org.apache.kafka.streams.Topology topology, Properties props, StateRestoreListener restore) throws InterruptedException {
    KafkaStreams streams = new KafkaStreams(topology, props);
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("kafka-streams: " + e);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    if (restore != null) streams.setGlobalStateRestoreListener(restore);
    streams.start();
    return streams;
  }

  private static void await(KafkaStreams streams, java.util.function.BooleanSupplier done, String what) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 30 * 60_000;
    while (!done.getAsBoolean()) {
      KafkaStreams.State s = streams.state();
      if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR || s == KafkaStreams.State.NOT_RUNNING) {
        throw new IllegalStateException("Kafka Streams stopped (" + s + ") while waiting for " + what);
      }
      if (System.currentTimeMillis() > deadline) throw new IllegalStateException("gave up after 30 minutes waiting for " + what);
      Thread.sleep(5);
    }
  }

  private static double metric(KafkaStreams streams, String group, String name) {
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> m : streams.metrics().entrySet()) {
      if (m.getKey().group().equals(group) && m.getKey().name().equals(name) && m.getValue().metricValue() instanceof Double d) sum += d;
    }
    return sum;
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  /** 1. A backlog, from start-up to a closed instance (its last commit included), as Hermes' runKafka. */
  private ObjectNode throughput(String app, String input, String out) throws Exception {
    AtomicLong processed = new AtomicLong();
    long cpu0 = cpuNanos();
    long t0 = System.nanoTime();
    KafkaStreams streams = start(BenchTopology.build(input, out, processed), streamsConfig(app, "a"), null);
    await(streams, () -> processed.get() > 0, "the first event through the running count");
    double firstSecs = (System.nanoTime() - t0) / 1e9;
    await(streams, () -> processed.get() >= events, events + " events through the running count");
    double lastSecs = (System.nanoTime() - t0) / 1e9;
    long commits = Math.round(metric(streams, "stream-thread-metrics", "commit-total"));
    streams.close(Duration.ofMinutes(2));
    double secs = (System.nanoTime() - t0) / 1e9;
    double cpu = (cpuNanos() - cpu0) / 1e9;
    System.out.printf("throughput (%s, json): %d events in %.1f s = %d events/s, %d commits, cpu %d%% of one core (first output at %.1f s, last at %.1f s)%n", guarantee, events, secs, Math.round(events / secs), commits, Math.round(100 * cpu / secs), firstSecs, lastSecs);
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("events", events);
    o.put("seconds", round(secs, 3));
    o.put("eventsPerSecond", Math.round(events / secs));
    o.put("commits", commits);
    o.put("cpuPercent", Math.round(100 * cpu / secs));
    return o;
  }

  /** Sums what the changelogs' restores did, from the first start to the last end. */
  static final class RestoreTally implements StateRestoreListener {
    final AtomicLong records = new AtomicLong();
    final AtomicLong started = new AtomicLong();
    final AtomicLong ended = new AtomicLong();
    volatile long firstStart = -1;
    volatile long lastEnd = -1;

    @Override
    public void onRestoreStart(TopicPartition tp, String store, long startOffset, long endOffset) {
      if (firstStart < 0) firstStart = System.nanoTime();
      started.incrementAndGet();
    }

    @Override
    public void onBatchRestored(TopicPartition tp, String store, long batchEndOffset, long numRestored) {
      records.addAndGet(numRestored);
    }

    @Override
    public void onRestoreEnd(TopicPartition tp, String store, long totalRestored) {
      lastEnd = System.nanoTime();
      ended.incrementAndGet();
    }
  }

  /** 3. A new instance (same application id, empty state directory) rebuilds the state of step 1. */
  private ObjectNode restore(String app, String input, String out) throws Exception {
    RestoreTally tally = new RestoreTally();
    KafkaStreams streams = start(BenchTopology.build(input, out, new AtomicLong()), streamsConfig(app, "b"), tally);
    // RUNNING once the group has assigned the tasks and their stores are restored; the tally must
    // have seen every restore that started end, and no new one start for a moment.
    await(streams, () -> streams.state() == KafkaStreams.State.RUNNING && tally.started.get() > 0 && tally.started.get() == tally.ended.get(), "the restore");
    long seen = tally.started.get();
    Thread.sleep(500);
    await(streams, () -> tally.started.get() == tally.ended.get(), "the restore");
    if (tally.started.get() != seen) System.err.println("kafka-streams: more restores started after RUNNING; counted them too");
    streams.close(Duration.ofMinutes(2));
    long ms = Math.max(1, Math.round((tally.lastEnd - tally.firstStart) / 1e6));
    long perSecond = Math.round(tally.records.get() * 1000.0 / ms);
    System.out.printf("restore: %d changelog records in %d ms (%d records/s)%n", tally.records.get(), ms, perSecond);
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("records", tally.records.get());
    o.put("ms", ms);
    o.put("recordsPerSecond", perSecond);
    return o;
  }

  /** The latency's p99 is also given per this much of sending (by each event's send time). */
  static final long WINDOW_MS = 2000;

  /** 2. Latency at a steady rate: 20 ms ticks of rate/50 events each, as scripts/kafka/bench.ts. */
  private ObjectNode latency() throws Exception {
    long rate = Long.parseLong(arg("rate", "2000"));
    long seconds = Long.parseLong(arg("seconds", "20"));
    long warmup = Long.parseLong(arg("warmup-seconds", "5"));
    if (warmup < 0) throw new IllegalArgumentException("--warmup-seconds must be a whole number of seconds, got " + warmup);
    String app = "bench-ks-live-" + id;
    String input = "bench-ks-live-in-" + id;
    String out = "bench-ks-live-out-" + id;
    createTopics(input, out + "-running", out + "-hourly");
    long waited = System.currentTimeMillis();
    KafkaStreams streams = start(BenchTopology.build(input, out, new AtomicLong()), streamsConfig(app, "c"), null);

    // Send time of each measured event (warm-up events are not in it, so their outputs are not counted).
    Map<String, Long> sentAt = new ConcurrentHashMap<>();
    // Per output read: its event's send time and its latency.
    List<long[]> latencies = Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean reading = new AtomicBoolean(true);
    AtomicBoolean readerJoined = new AtomicBoolean(false);
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, "bench-ks-reader-" + id);
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
    Thread reader = new Thread(() -> {
      try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer())) {
        consumer.subscribe(List.of(out + "-running"));
        var serde = Json.serde(Running.class).deserializer();
        while (reading.get()) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(50))) {
            Long t = sentAt.get(serde.deserialize(r.topic(), r.value()).eventId());
            if (t != null) latencies.add(new long[] {t, System.currentTimeMillis() - t});
          }
          if (!consumer.assignment().isEmpty()) readerJoined.set(true);
        }
      }
    }, "latency-reader");
    reader.start();

    long tick = 20;
    long[] n = {0};
    try (KafkaProducer<String, byte[]> producer = Workload.producer(brokers, 0)) {
      // Produces at the rate for `secs`; `measured`: the events' send times are kept.
      java.util.function.BiFunction<Long, Boolean, Long> produceFor = (secs, measured) -> {
        long from = n[0];
        long until = System.currentTimeMillis() + secs * 1000;
        try {
          while (System.currentTimeMillis() < until) {
            List<Ev> batch = new ArrayList<>();
            for (long i = 0; i < rate * tick / 1000; i++, n[0]++) batch.add(Workload.liveEvent(n[0], System.currentTimeMillis()));
            long now = System.currentTimeMillis();
            if (measured) for (Ev e : batch) sentAt.put(e.eventId(), now);
            for (Ev e : batch) producer.send(Workload.record(input, e, PARTITIONS));
            producer.flush(); // as the Hermes side awaits each send
            Thread.sleep(Math.max(0, tick - (System.currentTimeMillis() - now)));
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while producing", e);
        }
        return n[0] - from;
      };
      if (warmup > 0) {
        // Ready as Hermes' /readyz: the group joined, the tasks open and restored (RUNNING).
        await(streams, () -> streams.state() == KafkaStreams.State.RUNNING && readerJoined.get(), "the instance and the reader to be ready");
        long readyAfter = System.currentTimeMillis() - waited;
        produceFor.apply(warmup, false);
        System.out.printf("latency: runner and reader ready after %.1f s, then %d s of warm-up at %d events/s (not counted)%n", readyAfter / 1000.0, warmup, rate);
      } else {
        Thread.sleep(3000); // let the instance join and settle, as the Hermes side does
      }
      long t0 = System.currentTimeMillis();
      long produced = produceFor.apply(seconds, true);
      Thread.sleep(2000);
      reading.set(false);
      reader.join();
      streams.close(Duration.ofMinutes(2));
      List<long[]> all;
      synchronized (latencies) {
        all = new ArrayList<>(latencies);
      }
      List<Long> sorted = new ArrayList<>();
      for (long[] l : all) sorted.add(l[1]);
      Collections.sort(sorted);
      List<Long> windows = windowP99(all, t0, seconds);
      System.out.printf("latency (%s, json) at %d events/s for %d s: %d/%d outputs, p50 %d ms, p99 %d ms, max %d ms%n", guarantee, rate, seconds, sorted.size(), produced, pct(sorted, 50), pct(sorted, 99), sorted.isEmpty() ? -1 : sorted.get(sorted.size() - 1));
      System.out.printf("latency p99 per %d s of sending, ms: %s%n", WINDOW_MS / 1000, windows.stream().map(String::valueOf).collect(Collectors.joining(" ")));
      ObjectNode o = Json.MAPPER.createObjectNode();
      o.put("rate", rate);
      o.put("seconds", seconds);
      o.put("produced", produced);
      o.put("received", sorted.size());
      o.put("p50Ms", pct(sorted, 50));
      o.put("p99Ms", pct(sorted, 99));
      o.put("maxMs", sorted.isEmpty() ? -1 : sorted.get(sorted.size() - 1));
      o.put("warmupSeconds", warmup);
      o.put("windowMs", WINDOW_MS);
      var arr = o.putArray("windowP99Ms");
      for (long w : windows) arr.add(w);
      return o;
    }
  }

  /** p99 per {@link #WINDOW_MS} of sending from {@code t0}, over {@code seconds}; -1 for a window with no output read. */
  static List<Long> windowP99(List<long[]> latencies, long t0, long seconds) {
    int count = (int) Math.ceil(seconds * 1000.0 / WINDOW_MS);
    List<List<Long>> windows = new ArrayList<>();
    for (int i = 0; i < count; i++) windows.add(new ArrayList<>());
    for (long[] l : latencies) {
      long i = Math.min(count - 1, Math.floorDiv(l[0] - t0, WINDOW_MS));
      if (i >= 0) windows.get((int) i).add(l[1]);
    }
    List<Long> out = new ArrayList<>();
    for (List<Long> w : windows) {
      Collections.sort(w);
      out.add(w.isEmpty() ? -1L : pct(w, 99));
    }
    return out;
  }

  /** The percentile as scripts/kafka/bench.ts takes it: sorted[floor(p / 100 * n)]. */
  static long pct(List<Long> sorted, int p) {
    if (sorted.isEmpty()) return -1;
    return sorted.get((int) Math.min(sorted.size() - 1, Math.floor(p / 100.0 * sorted.size())));
  }

  static double round(double x, int digits) {
    double f = Math.pow(10, digits);
    return Math.round(x * f) / f;
  }

  private void createTopics(String... topics) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(p)) {
      Set<String> existing = new HashSet<>(admin.listTopics().names().get());
      List<NewTopic> missing = Stream.of(topics).filter(t -> !existing.contains(t)).map(t -> new NewTopic(t, PARTITIONS, (short) 1)).collect(Collectors.toList());
      try {
        admin.createTopics(missing).all().get();
      } catch (java.util.concurrent.ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) throw e;
      }
    }
  }

  private void deleteStateDirs() throws Exception {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Collections.reverseOrder()).map(Path::toFile).forEach(File::delete);
    }
  }
}
