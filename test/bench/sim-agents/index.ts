// Simulated agents over the real dispatcher protocol, for manager benchmarks and scale tests.
export { SimAgent, SIM_NODE_HEADER, type SimAgentOptions } from './agent.js';
export { SimFleet, simNodeId, type FleetOptions } from './fleet.js';
export { startSimManager, type SimManager, type SimManagerOptions } from './manager.js';
export { spawnSimAgents, type SimProcesses, type SimProcessesOptions } from './spawn.js';
