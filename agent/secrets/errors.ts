// What a task's secret, config or volume references can get wrong on this node. The executor
// turns these into a REJECTED task whose message names the reference.

export class TaskFileError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'TaskFileError';
  }
}
