package hermes.peer;

import hermes.peer.Json.Ev;
import hermes.peer.Json.Running;
import hermes.peer.Json.WindowResult;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The topology of scripts/kafka/bench.ts in Kafka Streams' DSL:
 *
 * <ol>
 *   <li>events keyed by userId (the producers key and place them so, as Hermes' source expects,
 *       so neither side repartitions them), event time from the {@code ts} field;
 *   <li>per user, a count over hourly tumbling windows with 60 s of grace, emitted once per window
 *       when it closes (Hermes' window operator emits final results only: here {@code suppress})
 *       to {@code <out>-hourly} as {@code {"key","start","end","value","count"}};
 *   <li>re-keyed by type through a repartition topic ({@code keyBy('by-type')});
 *   <li>per type, a running count in a persistent, cached, changelogged key-value store, one
 *       output per event to {@code <out>-running} as {@code {"eventId","n"}}.
 * </ol>
 */
public final class BenchTopology {
  private BenchTopology() {}

  static final String RUNNING_STORE = "n";

  /** Event time as Hermes' source takes it: the value's {@code ts}, else the log timestamp. */
  static final class TsExtractor implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      return record.value() instanceof Ev e && e.ts() > 0 ? e.ts() : record.timestamp();
    }
  }

  /** The {@code running} process node: counts per type, forwards one result per event. */
  static final class RunningCount implements Processor<String, Ev, String, Running> {
    private final AtomicLong processed;
    private ProcessorContext<String, Running> ctx;
    private KeyValueStore<String, Long> store;

    RunningCount(AtomicLong processed) {
      this.processed = processed;
    }

    @Override
    public void init(ProcessorContext<String, Running> context) {
      ctx = context;
      store = context.getStateStore(RUNNING_STORE);
    }

    @Override
    public void process(Record<String, Ev> r) {
      Long prev = store.get(r.key());
      long n = (prev == null ? 0 : prev) + 1;
      store.put(r.key(), n);
      ctx.forward(r.withValue(new Running(r.value().eventId(), n)));
      processed.incrementAndGet();
    }
  }

  /**
   * Builds the topology reading {@code input} and writing {@code <out>-hourly} and
   * {@code <out>-running}. {@code processed} counts events that reached the last node, which is how
   * the backlog measurement knows that every event went all the way through.
   */
  public static Topology build(String input, String out, AtomicLong processed) {
    Serde<Ev> evSerde = Json.serde(Ev.class);
    StreamsBuilder b = new StreamsBuilder();
    KStream<String, Ev> events = b.stream(input, Consumed.with(Serdes.String(), evSerde).withTimestampExtractor(new TsExtractor()).withName("events"));

    events
        .groupByKey(Grouped.with("hourly", Serdes.String(), evSerde))
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofHours(1), Duration.ofMinutes(1)))
        .count(Materialized.as("hourly"))
        .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()).withName("hourly-final"))
        .toStream()
        .map((wk, n) -> KeyValue.pair(wk.key(), new WindowResult(wk.key(), wk.window().start(), wk.window().end(), n, n)))
        .to(out + "-hourly", Produced.with(Serdes.String(), Json.serde(WindowResult.class)).withName("hourly-out"));

    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(RUNNING_STORE), Serdes.String(), Serdes.Long()).withCachingEnabled());
    events
        .selectKey((k, e) -> e.type())
        .repartition(Repartitioned.with(Serdes.String(), evSerde).withName("by-type"))
        .process(() -> new RunningCount(processed), RUNNING_STORE)
        .to(out + "-running", Produced.with(Serdes.String(), Json.serde(Running.class)).withName("running-out"));
    return b.build();
  }
}
