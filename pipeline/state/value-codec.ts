/**
 * Framing of value-store values written with a {@link ValueCodec}: one format byte, then the
 * codec's bytes. Values of the previous layout (JSON text, from before the store declared its
 * codec) are read as they are and rewritten with the codec when their key next changes, as
 * window values are (window-events.ts); bytes of neither kind are refused with what to do.
 */
import { HermesError } from '../api/errors.ts'
import type { ValueCodec } from '../api/stores.ts'

/**
 * First byte of a value written through a codec. JSON text never starts with it: JSON starts with
 * `{`, `[`, `"`, a digit, `-`, `t`, `f`, `n` or whitespace.
 */
export const CODEC_FORMAT = 0x01

/** First bytes JSON text of the previous layout can start with. */
const JSON_FIRST = new Set([...'{["-0123456789tfn \t\r\n'].map((c) => c.charCodeAt(0)))

/** Encodes a value with the store's codec, framed. */
export function encodeCodecValue(codec: ValueCodec<unknown>, value: unknown): Buffer {
  const payload = codec.encode(value)
  const buf = Buffer.allocUnsafe(payload.length + 1)
  buf[0] = CODEC_FORMAT
  buf.set(payload, 1)
  return buf
}

/**
 * Decodes a stored value of a store with a codec: framed codec bytes, or JSON text written
 * before the codec was declared (migrated on read).
 *
 * @throws HermesError `STATE_ERROR` for bytes of neither kind, or codec bytes the codec refuses.
 */
export function decodeCodecValue(codec: ValueCodec<unknown>, buf: Buffer, store: string): unknown {
  const first = buf[0]
  if (first === CODEC_FORMAT) {
    try {
      return codec.decode(buf.subarray(1))
    } catch (err) {
      throw new HermesError('STATE_ERROR', `store ${store}: a stored value (${buf.length} bytes) does not decode (${(err as Error).message}): the state is damaged or was written by a newer Hermes; delete the task's state directory to rebuild it from its changelogs`, { cause: err })
    }
  }
  if (first !== undefined && JSON_FIRST.has(first)) return JSON.parse(buf.toString('utf8')) as unknown
  throw new HermesError('STATE_ERROR', `store ${store}: a stored value of an unknown format (first byte ${first ?? 'none'}): the state was written by a newer Hermes or is damaged; delete the task's state directory to rebuild it from its changelogs`)
}
