// The image store's public data types. ImageConfig is the subset of the OCI image config that
// supplies a container's defaults; ImageRecord is what `image ls` / `image inspect` show.

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** e.g. "6379/tcp" */
  exposedPorts?: string[];
  labels?: Record<string, string>;
  stopSignal?: string;
}

export interface ImageRecord {
  /** sha256:... digest of the image's config blob */
  id: string;
  /** familiar references, e.g. "busybox:latest", "localhost:5000/app:v1" */
  refs: string[];
  /** diff ids (sha256 of each uncompressed layer tar), lowest layer first */
  layers: string[];
  /** bytes of the unpacked layers (regular file contents) */
  size: number;
  created?: string;
  config: ImageConfig;
  os?: string;
  architecture?: string;
  /** digest of the OCI/Docker manifest the image came from, when it had one */
  manifestDigest?: string;
}

export interface ResolvedImage {
  id: string;
  /** unpacked layer directories, LOWEST first (overlayfs lowerdir wants the reverse) */
  layerDirs: string[];
  config: ImageConfig;
}
