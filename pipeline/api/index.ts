/**
 * The public API of Hermes: everything a topology or operator author imports.
 * Nothing here depends on the runtime.
 */
export { Record } from './record.ts'
export type { Headers, RecordInit } from './record.ts'
export type { Processor, ProcessorContext, ProcessorFactory, Timer, TimerService, Logger } from './processor.ts'
export type { ValueStore, MapStore, WindowStore, WindowEvent, BroadcastStore, StoreSpec, BroadcastStoreSpec, StoreKind, ValueCodec } from './stores.ts'
export { valueStore, mapStore, windowStore, broadcastStore } from './stores.ts'
export type { Serde } from './serde.ts'
export { jsonSerde, jsonObjectSerde, stringSerde } from './serde.ts'
export { TopologyBuilder, Stream, ProcessedStream, BroadcastStream, ConnectedStream, validateGraph } from './topology.ts'
export type {
  Topology,
  TopologyNode,
  SourceNode,
  MapNode,
  FilterNode,
  FlatMapNode,
  KeyByNode,
  MergeNode,
  ProcessNode,
  SinkNode,
  Edge,
  SourceOptions,
  ProcessOptions,
  SinkOptions,
} from './topology.ts'
export type { WindowSpec, WindowOptions, WindowResult, Aggregator } from './windows.ts'
export { LATE_OUTPUT } from './windows.ts'
export { HermesError, TopologyError, SerdeError, describeError } from './errors.ts'
export type { HermesErrorCode, Phase, ErrorDecision, ErrorContext, ErrorHandler } from './errors.ts'
export { defineTopology } from './define.ts'
export type { TopologyEnv, TopologyFactory } from './define.ts'
