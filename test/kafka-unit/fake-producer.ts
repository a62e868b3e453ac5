/** A fake kafkajs client whose producer's sends a test acknowledges (or fails) by hand; no broker. */
import type { Kafka, RecordMetadata } from 'kafkajs'

/** One `sendBatch` call: the values it carried, and how to settle it. */
export interface PendingSend {
  values: string[]
  ack: () => void
  fail: (err: Error) => void
}

/** The client, and the sends its producers made, in order. */
export function fakeKafka(): { kafka: Kafka; sends: PendingSend[] } {
  const sends: PendingSend[] = []
  const producer = {
    connect: async () => {},
    disconnect: async () => {},
    sendBatch: ({ topicMessages }: { topicMessages: Array<{ messages: Array<{ value: Buffer | null }> }> }) =>
      new Promise<RecordMetadata[]>((resolve, reject) => {
        const values = topicMessages.flatMap((t) => t.messages.map((m) => String(m.value)))
        sends.push({ values, ack: () => resolve([]), fail: reject })
      }),
  }
  return { kafka: { producer: () => producer } as unknown as Kafka, sends }
}
