// The grammar of an image reference ("busybox", "myorg/app:1.2", "localhost:5000/app@sha256:...").
// The image store parses with it, and the control API refuses a service whose image can never
// be pulled or loaded by any node ("../../etc"), with the same words.

export interface ImageReferenceParts {
  /** familiar repository name: "busybox", "myorg/app", "localhost:5000/app" */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DEFAULT_DOMAINS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The parts of `input`, or why it is not a reference (callers prefix "invalid image reference"). */
export function parseImageReference(input: string): { ok: true; value: ImageReferenceParts } | { ok: false; why: string } {
  const bad = (why: string): { ok: false; why: string } => ({ ok: false, why });
  if (input.length === 0) return bad('it is empty');
  if (input.length > 255 + 128 + 72) return bad('it is too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return bad('the digest after "@" must be sha256: followed by 64 hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return bad('a tag is letters, digits, "_", "." or "-" (at most 128, not starting with "." or "-")');
  }
  const parts = rest.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) return bad(`"${domain}" is not a valid registry host`);
  }
  for (const p of parts) {
    if (!COMPONENT.test(p)) return bad(p === '' ? 'it has an empty path component' : `"${p}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
  }
  if (domain !== undefined && DEFAULT_DOMAINS.has(domain)) domain = undefined;
  if (domain === undefined && parts.length === 2 && parts[0] === 'library') parts.shift();
  const repository = domain === undefined ? parts.join('/') : `${domain}/${parts.join('/')}`;
  if (repository.length > 255) return bad('the repository name is longer than 255 characters');
  return { ok: true, value: { repository, tag, digest } };
}

/** True when `input` could be a (prefix of an) image id: "sha256:ab12..." or bare hex. */
export function looksLikeImageId(input: string): boolean {
  return /^sha256:[0-9a-f]{1,64}$/.test(input) || /^[0-9a-f]{4,64}$/.test(input);
}

/** A problem with a service's image as the user wrote it (a reference or an image id), or undefined. */
export function imageProblem(image: string): string | undefined {
  if (looksLikeImageId(image)) return undefined;
  const r = parseImageReference(image);
  return r.ok ? undefined : `invalid image reference "${image}": ${r.why}`;
}
