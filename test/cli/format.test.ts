// Output helpers: tables, ages, sizes, json and enum names.
import { describe, expect, it } from 'vitest';
import { TaskState } from '../../proto/gen/types.js';
import { ago, compactNanos, formatOf, humanBytes, humanDuration, renderTable, shortId, taskStateName } from '../../cli/format/index.js';

describe('format', () => {
  it('pads table columns by their widest cell, leaving the last one unpadded', () => {
    expect(renderTable(['ID', 'NAME', 'IMAGE'], [['abc', 'web', 'busybox'], ['d', 'a-long-name', '']])).toBe(
      'ID    NAME          IMAGE\nabc   web           busybox\nd     a-long-name\n',
    );
    expect(shortId('0123456789abcdefghij')).toBe('0123456789ab');
  });

  it('says durations and ages as Docker does', () => {
    expect(humanDuration(400)).toBe('less than a second');
    expect(humanDuration(1_000)).toBe('1 second');
    expect(humanDuration(42_000)).toBe('42 seconds');
    expect(humanDuration(70_000)).toBe('about a minute');
    expect(humanDuration(3 * 3_600_000)).toBe('3 hours');
    expect(humanDuration(5 * 86_400_000)).toBe('5 days');
    expect(ago(1_000n, 11_000)).toBe('10 seconds ago');
    expect(ago(0n)).toBe('');
    expect(compactNanos(90_500_000_000n)).toBe('1m30.5s');
    expect(compactNanos(500_000_000n)).toBe('500ms');
    expect(compactNanos(0n)).toBe('0s');
  });

  it('prints sizes in binary units and task states in lower case', () => {
    expect(humanBytes(512)).toBe('512B');
    expect(humanBytes(64n * 1024n * 1024n)).toBe('64MiB');
    expect(humanBytes(1536)).toBe('1.5KiB');
    expect(taskStateName(TaskState.RUNNING)).toBe('running');
    expect(taskStateName(undefined)).toBe('new');
  });

  it('accepts only table and json as --format', () => {
    expect(formatOf(undefined)).toBe('table');
    expect(formatOf('json')).toBe('json');
    expect(() => formatOf('yaml')).toThrow(/unknown --format "yaml": use table or json/);
  });
});
