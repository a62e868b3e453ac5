import { describe, expect, it } from 'vitest'
import { whileRestarting } from '../../pipeline/kafka/source.ts'

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
