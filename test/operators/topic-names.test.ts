import { describe, expect, it } from 'vitest'
import type { SinkNode, SourceNode, Topology } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../../topologies/push-decisions.ts'

const topicsOf = (t: Topology): string[] => t.nodes.filter((n): n is SourceNode | SinkNode => n.kind === 'source' || n.kind === 'sink').map((n) => n.topic).sort()

describe('hermes.topics and hermes.applications', () => {
  it('default to the contract names', () => {
    expect(pushDecisions({ settings: {} }).name).toBe('push-decisions')
    expect(topicsOf(pushDecisions({ settings: {} }))).toEqual(Object.values(TOPICS).sort())
    expect(materialStats({ settings: {} }).name).toBe('material-stats')
  })

  it('rename every topic and application, and the operators follow the new names', async () => {
    const topics = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [k, `prod.${v}`]))
    const settings = { topics, applications: { decisions: 'prod-decisions', stats: 'prod-stats' } }
    const decisions = pushDecisions({ settings })
    expect(decisions.name).toBe('prod-decisions')
    expect(topicsOf(decisions)).toEqual(Object.values(TOPICS).map((t) => `prod.${t}`).sort())
    expect(materialStats({ settings }).name).toBe('prod-stats')
    // The feedback reads exposures (sent pushes with the model's features), not decisions; it writes stats and the model.
    expect(topicsOf(materialStats({ settings }))).toEqual(['prod.behavior-events', 'prod.ctr-model', 'prod.exposures', 'prod.material-stats'])

    // A task arriving on the renamed config topic is taken as a task (the operators route by topic name).
    const driver = await TopologyTestDriver.create(decisions)
    await driver.pipe('prod.config.tasks', [{ taskId: 'bad', trigger: { type: 'nope' } }], { key: 'bad', timestamp: 0 })
    const dead = driver.readOutput('prod-decisions.dlq')
    expect(dead.length).toBe(1)
    expect(dead[0]?.headers?.['hermes.dlq.reason']).toMatch(/trigger/)
    await driver.close()
  })

  it('refuse names Kafka would refuse, naming the setting', () => {
    expect(() => pushDecisions({ settings: { topics: { events: 'behavior events' } } })).toThrow(/hermes\.topics\.events: a Kafka topic name/)
  })
})
