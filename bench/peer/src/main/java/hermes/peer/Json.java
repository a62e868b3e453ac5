package hermes.peer;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The JSON shapes of scripts/kafka/bench.ts, field for field and in the same order, so both sides
 * read and write the same bytes: behavior events in, window results and running counts out.
 */
public final class Json {
  private Json() {}

  /** Shared, thread-safe once configured. Unknown fields are ignored, as Hermes' JSON serde does. */
  static final ObjectMapper MAPPER = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  /** A behavior event: {@code {"eventId","userId","type","ts"}}. */
  @JsonPropertyOrder({"eventId", "userId", "type", "ts"})
  public record Ev(String eventId, String userId, String type, long ts) {}

  /** One hourly window's final count: Hermes' {@code WindowResult<number>}. */
  @JsonPropertyOrder({"key", "start", "end", "value", "count"})
  public record WindowResult(String key, long start, long end, long value, long count) {}

  /** The running count of the event's type, after the event: {@code {"eventId","n"}}. */
  @JsonPropertyOrder({"eventId", "n"})
  public record Running(String eventId, long n) {}

  /** A serde of one of the records above. */
  public static <T> Serde<T> serde(Class<T> type) {
    Serializer<T> ser = (topic, value) -> {
      try {
        return value == null ? null : MAPPER.writeValueAsBytes(value);
      } catch (IOException e) {
        throw new SerializationException("cannot write " + type.getSimpleName() + " as JSON", e);
      }
    };
    Deserializer<T> de = (topic, bytes) -> {
      try {
        return bytes == null ? null : MAPPER.readValue(bytes, type);
      } catch (IOException e) {
        throw new SerializationException("not a " + type.getSimpleName() + " in JSON: " + e.getMessage(), e);
      }
    };
    return Serdes.serdeFrom(ser, de);
  }
}
