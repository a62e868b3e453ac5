/**
 * Record headers: string to string. Kept as a plain frozen object so that records stay cheap to copy.
 */
export type Headers = Readonly<{ [name: string]: string }>

/** Fields accepted by the {@link Record} constructor. */
export interface RecordInit<V> {
  key: string | null
  value: V
  /** Event time in epoch milliseconds. */
  timestamp: number
  headers?: Headers
  topic?: string
  partition?: number
  offset?: number
}

const EMPTY_HEADERS: Headers = Object.freeze({})

/**
 * An immutable record flowing through a topology: key, value, event timestamp, headers and,
 * when it was read from a topic, where it came from.
 *
 * Copy with {@link Record.withValue}, {@link Record.withKey}, {@link Record.withTimestamp} or
 * {@link Record.withHeaders}; the origin (topic, partition, offset) is carried along.
 *
 * @throws TypeError from the constructor when the timestamp is not a finite number or the key is
 * neither a string nor null.
 */
export class Record<V = unknown> {
  readonly key: string | null
  readonly value: V
  readonly timestamp: number
  readonly headers: Headers
  /** Source topic, or `''` for a record created by an operator. */
  readonly topic: string
  /** Source partition, or `-1`. */
  readonly partition: number
  /** Source offset, or `-1`. */
  readonly offset: number

  constructor(init: RecordInit<V>) {
    if (typeof init.timestamp !== 'number' || !Number.isFinite(init.timestamp)) {
      throw new TypeError(`Record timestamp must be a finite number of epoch ms, got ${String(init.timestamp)}`)
    }
    if (init.key !== null && typeof init.key !== 'string') {
      throw new TypeError(`Record key must be a string or null, got ${typeof init.key}`)
    }
    this.key = init.key
    this.value = init.value
    this.timestamp = init.timestamp
    this.headers = init.headers ?? EMPTY_HEADERS
    this.topic = init.topic ?? ''
    this.partition = init.partition ?? -1
    this.offset = init.offset ?? -1
  }

  /** A copy with another value (and value type). */
  withValue<U>(value: U): Record<U> {
    // The most frequent copy (every map, flatMap and operator output): one init object, no spread.
    return new Record<U>({ key: this.key, value, timestamp: this.timestamp, headers: this.headers, topic: this.topic, partition: this.partition, offset: this.offset })
  }

  /** A copy with another key. */
  withKey(key: string | null): Record<V> {
    return new Record<V>({ ...this.fields(), value: this.value, key })
  }

  /** A copy with another event timestamp. */
  withTimestamp(timestamp: number): Record<V> {
    return new Record<V>({ ...this.fields(), value: this.value, timestamp })
  }

  /** A copy whose headers are these merged over the current ones. */
  withHeaders(headers: Headers): Record<V> {
    return new Record<V>({ ...this.fields(), value: this.value, headers: Object.freeze({ ...this.headers, ...headers }) })
  }

  private fields(): Omit<RecordInit<unknown>, 'value'> {
    return {
      key: this.key,
      timestamp: this.timestamp,
      headers: this.headers,
      topic: this.topic,
      partition: this.partition,
      offset: this.offset,
    }
  }
}
