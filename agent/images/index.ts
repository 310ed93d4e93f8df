// The image store's public surface: the store, its data types and its user-facing errors.
export { ImageStore, type ImageStoreOptions } from './store.js';
export type { ImageConfig, ImageRecord, ResolvedImage } from './types.js';
export {
  AmbiguousImageError,
  DigestMismatchError,
  ImageArchiveError,
  ImageConflictError,
  ImageNotFoundError,
  ImageStoreCorruptError,
  InvalidReferenceError,
  LayerLimitError,
  UnsafeLayerError,
  UnsupportedCompressionError,
} from './errors.js';
export { normalizeReference, parseReference } from './reference.js';
export { fsOps, loadFsOps, NativeAddonError, type FsOps } from './native.js';
export { defaultShoalRoot, imageStoreRoot } from './paths.js';
export { DEFAULT_LAYER_LIMITS, layerLimits, type LayerLimits } from './limits.js';
