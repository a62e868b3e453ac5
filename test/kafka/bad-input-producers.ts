/**
 * Standard producers for the bad-input suite: kcat (librdkafka, the partitioner most non-Java
 * producers use) for every case record, and the Java client (Kafka's console producer from the
 * jars scripts/kafka fetches) for user profiles and audience memberships, as issue 11 describes
 * them being produced. Neither is kafkajs, so what the suite sends is what real producers send.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { Partitioners } from 'kafkajs'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { BROKERS, kafkaClient } from './helpers.ts'

/** How to get kcat, quoted by the failure when it is missing (the suite never skips silently). */
export const KCAT_INSTALL = 'kcat is required by test/kafka/bad-input.kafka.test.ts: install it with `apt-get update && apt-get install -y kcat` (Debian/Ubuntu) or `brew install kcat` (macOS); .ci/run installs it'

/** Throws with {@link KCAT_INSTALL} unless `kcat` runs; returns its version line. */
export function requireKcat(): string {
  const r = spawnSync('kcat', ['-V'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) throw new Error(`${KCAT_INSTALL} (${r.error?.message ?? `kcat -V exited ${r.status}`})`)
  return (r.stdout.split('\n').find((l) => l.startsWith('Version')) ?? r.stdout).trim()
}

/**
 * librdkafka's default partitioner (`consistent_random`): CRC32 of the key bytes modulo the
 * partition count; empty and null keys go to a random partition (so the suite names one).
 * Java's is murmur2 ({@link partitionFor}); the two disagree for about 3 keys in 4 on 4 partitions.
 */
export function librdkafkaPartition(key: string, partitions: number): number {
  return crc32(Buffer.from(key, 'utf8')) % partitions
}

/** A key whose partition is `partition` under both partitioners, so a probe lands there whoever routes it. */
export function keyOnPartition(prefix: string, partition: number, partitions: number): string {
  for (let i = 0; ; i++) {
    const k = `${prefix}-${i}`
    if (partitionFor(k, partitions) === partition && librdkafkaPartition(k, partitions) === partition) return k
  }
}

/** One record as a producer sends it. */
export interface Send {
  topic: string
  /** Omitted or null: no key. '' is an empty (non-null) key. */
  key?: string | null
  /** null: a tombstone (null value). */
  value: Buffer | null
  /** An explicit partition (kcat -p); omitted: the producer's partitioner decides. */
  partition?: number
  headers?: { [name: string]: string }
}

/**
 * Produces records with kcat, one process per record and in order, each acknowledged before the
 * next starts (so a case's probe follows it on the partition). Non-empty values are sent from a
 * file (binary-safe, one file = one message); empty and null values go through stdin with a key
 * delimiter, since kcat skips empty files (`-Z` turns the empty value into null).
 */
export function kcatProduce(records: readonly Send[], brokers: readonly string[] = BROKERS): void {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-kcat-'))
  try {
    records.forEach((r, i) => {
      const args = ['-P', '-q', '-b', brokers.join(','), '-t', r.topic, '-X', 'message.max.bytes=2000000']
      if (r.partition !== undefined) args.push('-p', String(r.partition))
      for (const [h, v] of Object.entries(r.headers ?? {})) args.push('-H', `${h}=${v}`)
      let input: Buffer | undefined
      if (r.value === null || r.value.length === 0) {
        // Key and value on stdin, split at \x01 (absent from the suite's keys); no key: nothing before it is still a key, so refuse.
        if (r.key === undefined || r.key === null) throw new Error(`kcatProduce: an empty or null value needs a key (record ${i} to ${r.topic})`)
        args.push('-K', '\\x01')
        if (r.value === null) args.push('-Z')
        input = Buffer.concat([Buffer.from(r.key, 'utf8'), Buffer.from([1]), Buffer.from('\n')])
      } else {
        if (r.key !== undefined && r.key !== null) args.push('-k', r.key)
        const file = join(dir, `m${i}`)
        writeFileSync(file, r.value)
        args.push(file)
      }
      execFileSync('kcat', args, { input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 })
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The classpath file of the Kafka jars scripts/kafka/fetch.sh caches, if present. */
function kafkaClasspath(): string | null {
  const home = process.env.HERMES_KAFKA_HOME ?? join(homedir(), '.cache', 'hermes', 'kafka-3.9.2')
  const file = join(home, 'classpath.txt')
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null
}

/** Which Java-partitioned producer {@link javaProduce} uses here. */
export function javaProducerName(): string {
  return kafkaClasspath() ? 'Kafka console producer (Java client, murmur2)' : 'kafkajs with the Java default partitioner (murmur2)'
}

/**
 * Produces keyed JSON records as the Java client does (murmur2 of the key): Kafka's console
 * producer from the cached jars; where they are missing (scripts/kafka/fetch.sh not run, e.g. a
 * broker started otherwise), kafkajs with its DefaultPartitioner, which is Java's murmur2.
 */
export async function javaProduce(topic: string, records: ReadonlyArray<{ key: string; value: string }>, brokers: readonly string[] = BROKERS): Promise<void> {
  if (records.length === 0) return
  const classpath = kafkaClasspath()
  if (classpath) {
    for (const r of records) if (/[\t\n]/.test(r.key) || /\n/.test(r.value)) throw new Error(`javaProduce: key or value with a tab or newline: ${r.key}`)
    const input = records.map((r) => `${r.key}\t${r.value}\n`).join('')
    execFileSync('java', ['-cp', classpath, 'kafka.tools.ConsoleProducer', '--bootstrap-server', brokers.join(','), '--topic', topic, '--property', 'parse.key=true', '--property', 'key.separator=\t', '--producer-property', 'acks=all'], { input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 })
    return
  }
  const producer = kafkaClient('hermes-test-java-like').producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    await producer.send({ topic, messages: records.map((r) => ({ key: r.key, value: r.value })) })
  } finally {
    await producer.disconnect()
  }
}
