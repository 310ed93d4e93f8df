// Turns a staged archive into image candidates: which config, which layer blobs, which names.
// Understands the OCI image layout (index.json, possibly nested indexes) and `docker save`
// (manifest.json with RepoTags), including Docker 25+'s hybrid of the two.
import { ImageArchiveError, InvalidReferenceError } from './errors.js';
import { isDigest } from './blobs.js';
import type { StagedArchive, StagedFile } from './archive.js';
import { goArch, parseImageConfig, type ParsedImageConfig } from './image-config.js';
import { normalizeReference } from './reference.js';

export interface CandidateLayer {
  blob: StagedFile;
  diffId: string;
  mediaType?: string;
}

export interface ImageCandidate {
  refs: string[];
  configBytes: Buffer;
  configDigest: string;
  parsed: ParsedImageConfig;
  layers: CandidateLayer[];
  manifest?: { digest: string; bytes: Buffer };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export async function parseArchive(staged: StagedArchive): Promise<ImageCandidate[]> {
  if (staged.has('oci-layout') && staged.has('index.json')) return parseOciLayout(staged);
  if (staged.has('manifest.json')) return parseDockerSave(staged);
  throw new ImageArchiveError(staged.source, 'it is neither an OCI image layout (oci-layout, index.json) nor a `docker save` archive (manifest.json)');
}

async function parseOciLayout(staged: StagedArchive): Promise<ImageCandidate[]> {
  const fail = (why: string): never => {
    throw new ImageArchiveError(staged.source, why);
  };
  const index = await staged.readJson('index.json');
  if (!isObject(index) || !Array.isArray(index.manifests)) fail('index.json has no "manifests" list');
  const out: ImageCandidate[] = [];
  for (const desc of (index as Json).manifests as unknown[]) {
    if (!isObject(desc) || !isDigest(desc.digest)) fail('index.json has a manifest entry without a sha256 digest');
    const d = desc as Json;
    const ann = isObject(d.annotations) ? d.annotations : {};
    const refs = namesFromAnnotations(ann);
    out.push(await manifestCandidate(staged, d.digest as string, d.mediaType, refs, fail, 0));
  }
  return out;
}

function namesFromAnnotations(ann: Json): string[] {
  const names: string[] = [];
  const full = ann['io.containerd.image.name'];
  const refName = ann['org.opencontainers.image.ref.name'];
  for (const n of [full, refName]) {
    // a bare ref.name such as "latest" is only a tag, with no repository to attach it to
    if (typeof n !== 'string' || !(n.includes('/') || n.includes(':'))) continue;
    try {
      names.push(normalizeReference(n));
    } catch (err) {
      // an unusable annotation does not stop the load; the image stays reachable by id
      if (!(err instanceof InvalidReferenceError)) throw err;
    }
  }
  return [...new Set(names)];
}

async function manifestCandidate(
  staged: StagedArchive,
  digest: string,
  mediaType: unknown,
  refs: string[],
  fail: (why: string) => never,
  depth: number,
): Promise<ImageCandidate> {
  if (depth > 4) fail('its image indexes nest too deeply');
  const { bytes, value } = await staged.blobJson(digest, 'manifest');
  if (!isObject(value)) fail(`manifest ${digest} is not a JSON object`);
  const m = value as Json;
  const type = typeof m.mediaType === 'string' ? m.mediaType : mediaType;
  if ((typeof type === 'string' && INDEX_TYPES.has(type)) || (Array.isArray(m.manifests) && !m.layers)) {
    const chosen = pickPlatform(m.manifests, fail);
    return manifestCandidate(staged, chosen.digest as string, chosen.mediaType, refs, fail, depth + 1);
  }
  if (!isObject(m.config) || !isDigest(m.config.digest) || !Array.isArray(m.layers)) {
    fail(`manifest ${digest} lacks a config digest or a layers list`);
  }
  const config = await staged.blobJson((m.config as Json).digest as string, 'image config');
  const parsed = parseImageConfig(config.value, fail);
  const descs = m.layers as unknown[];
  if (descs.length !== parsed.diffIds.length) {
    fail(`manifest ${digest} lists ${descs.length} layers but its config lists ${parsed.diffIds.length} diff ids`);
  }
  const layers = descs.map((l, i): CandidateLayer => {
    if (!isObject(l) || !isDigest(l.digest)) fail(`manifest ${digest} has a layer without a sha256 digest`);
    const desc = l as Json;
    const blob = staged.blob(desc.digest as string, 'layer');
    if (typeof desc.size === 'number' && desc.size !== blob.size) {
      fail(`layer ${desc.digest as string} is ${blob.size} bytes but its manifest says ${desc.size}`);
    }
    return { blob, diffId: parsed.diffIds[i]!, mediaType: typeof desc.mediaType === 'string' ? desc.mediaType : undefined };
  });
  return { refs, configBytes: config.bytes, configDigest: (m.config as Json).digest as string, parsed, layers, manifest: { digest, bytes } };
}

function pickPlatform(list: unknown, fail: (why: string) => never): Json {
  if (!Array.isArray(list) || list.length === 0) fail('an image index lists no manifests');
  const descs = (list as unknown[]).filter((d): d is Json => isObject(d) && isDigest(d.digest));
  const arch = goArch();
  const match = descs.find((d) => isObject(d.platform) && d.platform.os === 'linux' && d.platform.architecture === arch);
  if (match) return match;
  const unlabelled = descs.filter((d) => !isObject(d.platform));
  if (unlabelled.length === 1) return unlabelled[0]!;
  return fail(`its image index has no manifest for linux/${arch}`);
}

async function parseDockerSave(staged: StagedArchive): Promise<ImageCandidate[]> {
  const fail = (why: string): never => {
    throw new ImageArchiveError(staged.source, why);
  };
  const manifest = await staged.readJson('manifest.json');
  if (!Array.isArray(manifest)) fail('manifest.json is not a list');
  const out: ImageCandidate[] = [];
  for (const entry of manifest as unknown[]) {
    if (!isObject(entry) || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
      fail('manifest.json has an entry without Config and Layers');
    }
    const e = entry as Json;
    const configFile = staged.get(e.Config as string);
    const config = await staged.blobJson(configFile.digest, 'image config');
    const parsed = parseImageConfig(config.value, fail);
    const paths = e.Layers as unknown[];
    if (paths.length !== parsed.diffIds.length) {
      fail(`manifest.json lists ${paths.length} layers for ${e.Config as string} but its config lists ${parsed.diffIds.length}`);
    }
    const layers = paths.map((p, i): CandidateLayer => {
      if (typeof p !== 'string') fail('manifest.json has a layer path that is not a string');
      return { blob: staged.get(p as string), diffId: parsed.diffIds[i]! };
    });
    if (e.RepoTags !== undefined && e.RepoTags !== null && !Array.isArray(e.RepoTags)) fail(`manifest.json gives RepoTags of ${e.Config as string} as something other than a list`);
    const refs: string[] = [];
    for (const tag of (e.RepoTags as unknown[] | null | undefined) ?? []) {
      // refused, as `docker load` does: loading it untagged would leave the user to find it by id
      if (typeof tag !== 'string') fail(`manifest.json has a RepoTags entry for ${e.Config as string} that is not a string: ${JSON.stringify(tag)}`);
      try {
        refs.push(normalizeReference(tag as string));
      } catch (err) {
        fail(`manifest.json tags ${e.Config as string} as ${JSON.stringify(tag)}, which is not a valid image reference (${(err as Error).message}); fix RepoTags in the archive or remove the entry, then load again`);
      }
    }
    out.push({ refs, configBytes: config.bytes, configDigest: configFile.digest, parsed, layers });
  }
  return out;
}
