// Named volumes on the agent: the local driver (a directory per volume under SHOAL_ROOT/volumes)
// with Docker's copy-up of the image's files into a new volume.
export { LocalVolumes, validateVolumeName, type EnsureVolumeOptions, type VolumeInfo } from './local.js';
export { copyImagePath, COPYUP_OVERLAY_SOURCE } from './copy-up.js';
export { resolveInRoot } from './in-root.js';
export { VolumeInUseError, VolumeNameError, VolumeNotFoundError } from './errors.js';
