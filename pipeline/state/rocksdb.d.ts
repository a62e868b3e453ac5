declare module '@nxtedition/rocksdb' {
  /** The binding's database class; Hermes narrows it to the methods it uses in backend.ts. */
  export const RocksLevel: new (location: string, options?: object) => unknown
}
