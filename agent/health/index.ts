// Health checks of running containers: import from here.
export { HealthMonitor, HEALTH_LOG_ENTRIES, realHealthClock, type HealthClock, type HealthLogEntry, type HealthMonitorOptions, type HealthState, type HealthStatus } from './monitor.js';
export { HealthCheckConfigError, planHealthCheck, type HealthCheckPlan } from './config.js';
export { MAX_OUTPUT, PROBE_ENV, type ProbeRuntime } from './probe.js';
