package hermes.peer;

import hermes.peer.Json.Ev;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * The events of scripts/kafka/bench.ts (bench/peer/workload.ts), generated the same way: event i
 * of the backlog is {@code e<i>}, user {@code u<(i * 7919) % 5000>}, type {@code TYPES[i % 6]},
 * {@code ts = start + i * 10}; live event n is {@code l<n>} with the wall clock as its time.
 * Records are keyed by user and placed by murmur2, as Hermes' {@code partitionFor} places them.
 */
public final class Workload {
  private Workload() {}

  static final List<String> TYPES = List.of("view", "click", "search", "cart", "chat", "buy");
  static final int USERS = 5000;

  /** The first event's time: recent, as the broker's time-based retention deletes old records. */
  static long backlogStart(long events, long nowMs) {
    return (long) Math.floor((nowMs - events * 10.0) / 3_600_000 - 1) * 3_600_000;
  }

  static Ev backlogEvent(long i, long start) {
    return new Ev("e" + i, "u" + (i * 7919) % USERS, TYPES.get((int) (i % TYPES.size())), start + i * 10);
  }

  static Ev liveEvent(long n, long ts) {
    return new Ev("l" + n, "u" + (n * 7919) % USERS, TYPES.get((int) (n % TYPES.size())), ts);
  }

  /** Kafka's default partitioner for a string key, which Hermes' partitionFor reproduces. */
  static int partitionFor(String key, int partitions) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
  }

  /** An idempotent producer of JSON event values, keyed and placed by user. */
  static KafkaProducer<String, byte[]> producer(String brokers, int lingerMs) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, lingerMs);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  static ProducerRecord<String, byte[]> record(String topic, Ev e, int partitions) {
    try {
      return new ProducerRecord<>(topic, partitionFor(e.userId(), partitions), e.ts(), e.userId(), Json.MAPPER.writeValueAsBytes(e));
    } catch (com.fasterxml.jackson.core.JsonProcessingException x) {
      throw new IllegalStateException(x);
    }
  }

  /** Writes the backlog of {@code events} events to {@code topic} (when no shared topic is given). */
  static void produceBacklog(String brokers, String topic, long events, int partitions) {
    long start = backlogStart(events, System.currentTimeMillis());
    try (KafkaProducer<String, byte[]> producer = producer(brokers, 5)) {
      for (long i = 0; i < events; i++) producer.send(record(topic, backlogEvent(i, start), partitions));
      producer.flush();
    }
  }
}
