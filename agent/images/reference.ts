// Image references, normalized the way Docker shows them: "busybox" -> "busybox:latest",
// "docker.io/library/redis:7" -> "redis:7", "localhost:5000/app" -> "localhost:5000/app:latest".
import { InvalidReferenceError } from './errors.js';

export interface ParsedReference {
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

export function parseReference(input: string): ParsedReference {
  const fail = (why: string): never => {
    throw new InvalidReferenceError(input, why);
  };
  if (input.length === 0) fail('it is empty');
  if (input.length > 255 + 128 + 72) fail('it is too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail('the digest after "@" must be sha256: followed by 64 hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail('a tag is letters, digits, "_", "." or "-" (at most 128, not starting with "." or "-")');
  }
  const parts = rest.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) fail(`"${domain}" is not a valid registry host`);
  }
  for (const p of parts) {
    if (!COMPONENT.test(p)) {
      fail(p === '' ? 'it has an empty path component' : `"${p}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
    }
  }
  if (domain !== undefined && DEFAULT_DOMAINS.has(domain)) domain = undefined;
  if (domain === undefined && parts.length === 2 && parts[0] === 'library') parts.shift();
  const repository = domain === undefined ? parts.join('/') : `${domain}/${parts.join('/')}`;
  if (repository.length > 255) fail('the repository name is longer than 255 characters');
  return { repository, tag, digest };
}

/** Canonical string form used as the key in the store: a tag is added when neither tag nor digest is given. */
export function normalizeReference(input: string): string {
  const r = parseReference(input);
  if (r.digest !== undefined) return `${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}@${r.digest}`;
  return `${r.repository}:${r.tag ?? 'latest'}`;
}

/** True when `input` could be a (prefix of an) image id: "sha256:ab12..." or bare hex. */
export function looksLikeId(input: string): boolean {
  return /^sha256:[0-9a-f]{1,64}$/.test(input) || /^[0-9a-f]{4,64}$/.test(input);
}
