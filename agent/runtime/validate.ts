// Checks a ContainerSpec before anything is created, so bad input fails with one clear line
// and leaves nothing behind.
import { existsSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { constants } from 'node:os';
import { ContainerSpecError } from './errors.js';
import { hostnameProblem, isHostname, userProblem } from '../../rules/container.js';
import { optionProblems } from './options.js';
import type { ContainerSpec } from './types.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

function noNul(what: string, s: string): void {
  if (s.includes('\0')) throw new ContainerSpecError(`${what} ${JSON.stringify(s)} contains a NUL byte`);
}

export function validateSpec(spec: ContainerSpec): void {
  if (spec.name !== undefined && !NAME_RE.test(spec.name)) {
    throw new ContainerSpecError(`invalid container name ${JSON.stringify(spec.name)}: use letters, digits, '_', '.', '-' (up to 128, starting with a letter or digit)`);
  }
  const layers = spec.rootfs?.layers ?? [];
  if (layers.length === 0) throw new ContainerSpecError('the rootfs needs at least one layer directory');
  for (const l of layers) {
    noNul('layer', l);
    if (!isAbsolute(l) || /[:,]/.test(l)) throw new ContainerSpecError(`layer directory ${l} must be an absolute path without ':' or ','`);
    if (!existsSync(l) || !statSync(l).isDirectory()) throw new ContainerSpecError(`layer directory ${l} does not exist: pull or load the image again`);
  }
  if (!Array.isArray(spec.args) || spec.args.length === 0 || spec.args[0] === '') {
    throw new ContainerSpecError('no command given: pass one, or use an image with an Entrypoint or Cmd');
  }
  spec.args.forEach((a) => noNul('argument', a));
  for (const e of spec.env ?? []) {
    noNul('env entry', e);
    if (!/^[^=]+=/.test(e)) throw new ContainerSpecError(`env entry ${JSON.stringify(e)} must look like KEY=VALUE`);
  }
  if (spec.cwd !== undefined && !isAbsolute(spec.cwd)) throw new ContainerSpecError(`working directory ${spec.cwd} must be an absolute path`);
  const hostProblem = spec.hostname === undefined ? undefined : hostnameProblem(spec.hostname, { templates: false });
  if (hostProblem) throw new ContainerSpecError(hostProblem);
  const userBad = spec.user === undefined ? undefined : userProblem(spec.user);
  if (userBad) throw new ContainerSpecError(userBad);
  for (const m of spec.mounts ?? []) {
    noNul('mount target', m.target);
    if (!isAbsolute(m.target) || m.target.split('/').includes('..')) {
      throw new ContainerSpecError(`mount target ${m.target} must be an absolute path without '..'`);
    }
    if (m.type === 'bind') {
      noNul('bind source', m.source);
      if (!isAbsolute(m.source)) throw new ContainerSpecError(`bind mount source ${m.source} must be an absolute path`);
      if (!existsSync(m.source)) throw new ContainerSpecError(`bind mount source ${m.source} does not exist: create it first or fix the -v flag`);
    } else if (m.options !== undefined) noNul('tmpfs options', m.options);
  }
  const net = spec.network ?? 'none';
  if (typeof net === 'object') {
    if (!existsSync(net.path)) throw new ContainerSpecError(`network namespace ${net.path} does not exist`);
  } else if (net !== 'none' && net !== 'host') {
    throw new ContainerSpecError(`network mode ${JSON.stringify(net)} is not supported: use none, host or a netns path`);
  }
  for (const h of spec.extraHosts ?? []) {
    if (!isHostname(h.name) || !/^[0-9a-fA-F.:]+$/.test(h.ip)) throw new ContainerSpecError(`extra host ${h.name}:${h.ip} must be a hostname and an IP address`);
  }
  for (const n of spec.dns?.nameservers ?? []) {
    if (!/^[0-9a-fA-F.:]+$/.test(n)) throw new ContainerSpecError(`DNS server ${JSON.stringify(n)} must be an IP address`);
  }
  for (const v of [...(spec.dns?.search ?? []), ...(spec.dns?.options ?? [])]) {
    if (/[\s\0]/.test(v)) throw new ContainerSpecError(`DNS search domain or option ${JSON.stringify(v)} must not contain spaces`);
  }
  if (spec.stopSignal !== undefined && !(spec.stopSignal in constants.signals)) {
    throw new ContainerSpecError(`stop signal ${JSON.stringify(spec.stopSignal)} is not a signal name like SIGTERM`);
  }
  const problem = optionProblems(spec)[0];
  if (problem !== undefined) throw new ContainerSpecError(problem);
  if (spec.init !== undefined && typeof spec.init !== 'boolean') throw new ContainerSpecError(`init must be true or false, not ${JSON.stringify(spec.init)}`);
  const log = spec.log ?? {};
  if (log.maxBytes !== undefined && (!Number.isSafeInteger(log.maxBytes) || log.maxBytes < 1024)) {
    throw new ContainerSpecError(`log max size ${log.maxBytes} must be an integer of at least 1024 bytes`);
  }
  if (log.maxFiles !== undefined && (!Number.isSafeInteger(log.maxFiles) || log.maxFiles < 1)) {
    throw new ContainerSpecError(`log max files ${log.maxFiles} must be a positive integer`);
  }
}
