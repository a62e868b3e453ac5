import { describe, expect, it } from 'vitest'
import { whileRestarting } from '../../pipeline/kafka/source.ts'
import { fakeKafka, fakeSource as source } from './fake-consumer.ts'

describe('pausing a partition while kafkajs restarts its consumer', () => {
  it('is skipped when the consumer has no group (between a crash and its restart)', () => {
    // kafkajs' own words (consumer/index.js) for pause, resume and seek without a consumer group.
    const refuse = (): void => {
      throw Object.assign(new Error('Consumer group was not initialized, consumer#run must be called first'), { name: 'KafkaJSNonRetriableError' })
    }
    expect(() => whileRestarting(refuse)).not.toThrow()
  })

  it('still throws any other failure', () => {
    expect(() =>
      whileRestarting(() => {
        throw new Error('Invalid partition, expected a number received x')
      }),
    ).toThrow(/Invalid partition/)
  })

  it('runs the operation when the consumer is there', () => {
    let paused = 0
    whileRestarting(() => void paused++)
    expect(paused).toBe(1)
  })
})

describe('accepting a partition while kafkajs restarts its consumer', () => {
  const notRunning = (): never => {
    throw Object.assign(new Error('Consumer group was not initialized, consumer#run must be called first'), { name: 'KafkaJSNonRetriableError' })
  }

  it('keeps the buffer and its position, and seeks it once the consumer is back (the next join accepts it again)', () => {
    const seeks: string[] = []
    let running = false
    const { kafka } = fakeKafka({
      seek: ({ offset }: { offset: string }) => (running ? void seeks.push(offset) : notRunning()),
      resume: () => (running ? undefined : notRunning()),
      pause: () => {},
    })
    const s = source(kafka)
    const b = s.accept('events', 0, 42, 100, false)
    expect(s.buffers.get('events:0')).toBe(b)
    expect(seeks).toEqual([])
    running = true
    expect(s.accept('events', 0, 0, 100, false)).toBe(b)
    expect(seeks).toEqual(['42'])
  })

  it('still throws any other refusal of the seek', () => {
    const { kafka } = fakeKafka({
      seek: () => {
        throw new Error('Invalid partition')
      },
      resume: () => {},
    })
    expect(() => source(kafka).accept('events', 0, 0, 10, false)).toThrow(/Invalid partition/)
  })
})
