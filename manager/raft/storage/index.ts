// Durable storage of the Raft library: write-ahead log, snapshot files, CRC32C, record sealing.
export { Wal, type WalOptions, type RecoveredState } from './wal.js';
export { SnapshotStore } from './snapshots.js';
export { StorageError, WalCorruptError, StorageIdentityError, WalClosedError, SealedDataError } from './errors.js';
export { AesGcmCipher, SealError, SEAL_OVERHEAD, type DataKey, type RecordCipher } from './cipher.js';
export { PLAINTEXT } from './codec.js';
export { crc32c } from './crc32c.js';
export type { StorageLogger } from './logger.js';
