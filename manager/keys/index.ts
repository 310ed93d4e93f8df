// Encryption at rest of a manager's Raft data: data keys, the key-encryption key, autolock.
export { ManagerKeys } from './manager-keys.js';
export { RaftKeyRing } from './keyring.js';
export { newUnlockKey, parseUnlockKey, kekFromUnlockKey } from './unlock-key.js';
export { followAutolock, type AutolockFollowOptions } from './follow.js';
export { KeyError, MalformedUnlockKeyError, WrongUnlockKeyError, ManagerLockedError, KeyFileError } from './errors.js';
