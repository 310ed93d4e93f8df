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
const DOMAIN = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** The distribution grammar of a digest; the algorithm then decides the length. */
const DIGEST_SYNTAX = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const NAME_MAX = 255;
const DEFAULT_DOMAINS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The parts of `input`, or why it is not a reference (callers prefix "invalid image reference"). */
export function parseImageReference(input: string): { ok: true; value: ImageReferenceParts } | { ok: false; why: string } {
  const bad = (why: string): { ok: false; why: string } => ({ ok: false, why });
  if (input.length === 0) return bad('it is empty');
  if (input.length > NAME_MAX + 1 + 128 + 1 + 'sha512:'.length + 128) return bad('it is too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const why = digestProblem(digest);
    if (why) return bad(why);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') return bad('nothing follows ":": add a tag (e.g. ":1.25") or remove the ":"');
    if (!TAG.test(tag)) return bad('a tag is letters, digits, "_", "." or "-" (at most 128, not starting with "." or "-")');
  }
  const parts = rest.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) return bad(`"${domain}" is not a valid registry host`);
  }
  if (rest.length > NAME_MAX) return bad(`the name is longer than ${NAME_MAX} characters`);
  for (const p of parts) {
    if (!COMPONENT.test(p)) return bad(p === '' ? 'it has an empty path component' : `"${p}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
  }
  if (domain !== undefined && DEFAULT_DOMAINS.has(domain)) domain = undefined;
  if (domain === undefined && parts.length === 2 && parts[0] === 'library') parts.shift();
  const repository = domain === undefined ? parts.join('/') : `${domain}/${parts.join('/')}`;
  if (repository.length > 255) return bad('the repository name is longer than 255 characters');
  return { ok: true, value: { repository, tag, digest } };
}

/** Why `digest` ("algorithm:hex") is not one a registry can address, or undefined. */
function digestProblem(digest: string): string | undefined {
  const usage = 'write sha256: followed by 64 lowercase hex digits';
  if (digest === '') return `nothing follows "@": ${usage}, or remove the "@"`;
  const colon = digest.indexOf(':');
  const algorithm = colon < 0 ? digest : digest.slice(0, colon);
  const hex = colon < 0 ? '' : digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (colon >= 0 && length === undefined && DIGEST_SYNTAX.test(digest)) return `unsupported digest algorithm "${algorithm}": use sha256, sha384 or sha512`;
  if (length === undefined) return `the digest after "@" is not algorithm:hex: ${usage}`;
  if (!/^[0-9a-f]*$/.test(hex)) return `a digest is lowercase hex digits after "${algorithm}:"`;
  if (hex.length !== length) return `a ${algorithm} digest has ${length} hex digits, this one ${hex.length}`;
  return undefined;
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
