// Enum values as the tables print them (lower case, as Docker does).
import { NodeAvailability, NodeRole, NodeStatus_State, TaskState } from '../../proto/gen/types.js';

const lower = (s: string | undefined): string => (s ?? 'unknown').toLowerCase();

export function taskStateName(s: TaskState | undefined): string {
  return lower(TaskState[s ?? TaskState.NEW]);
}

export function nodeStateName(s: NodeStatus_State | undefined): string {
  return lower(NodeStatus_State[s ?? NodeStatus_State.UNKNOWN]);
}

export function availabilityName(a: NodeAvailability | undefined): string {
  return lower(NodeAvailability[a ?? NodeAvailability.ACTIVE]);
}

export function roleName(r: NodeRole | undefined): string {
  return lower(NodeRole[r ?? NodeRole.WORKER]);
}
