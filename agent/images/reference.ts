// Image references, normalized the way Docker shows them: "busybox" -> "busybox:latest",
// "docker.io/library/redis:7" -> "redis:7", "localhost:5000/app" -> "localhost:5000/app:latest".
import { looksLikeImageId, parseImageReference, type ImageReferenceParts } from '../../rules/image-reference.js';
import { InvalidReferenceError } from './errors.js';

/** familiar repository name ("busybox", "myorg/app", "localhost:5000/app"), tag and digest */
export type ParsedReference = ImageReferenceParts;

/** The grammar lives in rules/ (the control API checks services' images with it too). */
export function parseReference(input: string): ParsedReference {
  const r = parseImageReference(input);
  if (!r.ok) throw new InvalidReferenceError(input, r.why);
  return r.value;
}

/** Canonical string form used as the key in the store: a tag is added when neither tag nor digest is given. */
export function normalizeReference(input: string): string {
  const r = parseReference(input);
  if (r.digest !== undefined) return `${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}@${r.digest}`;
  return `${r.repository}:${r.tag ?? 'latest'}`;
}

/** True when `input` could be a (prefix of an) image id: "sha256:ab12..." or bare hex. */
export const looksLikeId = looksLikeImageId;
