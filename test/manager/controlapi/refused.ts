// The one check every control API test makes of a refusal: the call fails with this gRPC code and
// a message matching `text`. (vitest's expect: for test files only, not for the benchmarks.)
import type { ServiceError, status } from '@grpc/grpc-js';
import { expect } from 'vitest';

export async function refused(p: Promise<unknown>, code: status, text: RegExp): Promise<void> {
  const err = (await p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  )) as ServiceError;
  expect(err.details).toMatch(text);
  expect(err.code).toBe(code);
}
