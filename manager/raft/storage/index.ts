// Durable storage of the Raft library: write-ahead log, snapshot files, CRC32C.
export { Wal, type WalOptions, type RecoveredState } from './wal.js';
export { SnapshotStore } from './snapshots.js';
export { StorageError, WalCorruptError, StorageIdentityError, WalClosedError } from './errors.js';
export { crc32c } from './crc32c.js';
export type { StorageLogger } from './logger.js';
