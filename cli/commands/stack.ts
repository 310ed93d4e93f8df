// `shoal stack config|deploy|ls|services|ps|rm`. Files are loaded, checked and converted before
// anything is sent: a stack file with any error changes nothing in the cluster. The cluster is
// reached through the local daemon's socket (cli/stack/control.ts).
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { addConnectionOptions, connectionFlags } from '../client/index.js';
import { formatOf, printJson, renderTable } from '../format/index.js';
import { connectControl, type StackControl } from '../stack/control.js';
import { waitConverged } from '../stack/converge.js';
import { deployStack, stackServices } from '../stack/deploy.js';
import { removeStackObjects } from '../stack/deploy-objects.js';
import { renderObjectPlan } from '../stack/object-plan.js';
import { serviceRows, stackRows, taskRows } from '../stack/inspect.js';
import { loadStack, type LoadedStack } from '../stack/load.js';
import { checkStackName } from '../stack/names.js';
import { renderPlan } from '../stack/plan.js';
import { leftOutReason } from '../stack/profiles.js';
import { renderStack, renderWarning } from '../stack/render.js';
import { STACK_NAMESPACE_LABEL } from '../stack/to-proto.js';
import { parseDuration } from '../stack/units.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function out(text: string): void {
  process.stdout.write(text);
}

function loadFiles(files: string[] | undefined, stackName: string | undefined, command: string, profiles?: string[]): LoadedStack {
  if (!files || files.length === 0) throw new UsageError(`stack ${command} needs a stack file: pass -c FILE (repeat -c to merge overrides)`);
  if (stackName !== undefined) checkStackName(stackName);
  const loaded = loadStack({
    files,
    env: process.env,
    workingDir: files[0] === '-' ? process.cwd() : dirname(resolve(files[0]!)),
    ...(stackName !== undefined ? { stackName } : {}),
    ...(profiles !== undefined ? { profiles } : {}),
  });
  for (const w of loaded.warnings) process.stderr.write(`${renderWarning(w)}\n`);
  return loaded;
}

async function withControl<T>(cmd: Command, fn: (c: StackControl) => Promise<T>): Promise<T> {
  const control = connectControl(connectionFlags(cmd));
  try {
    return await fn(control);
  } finally {
    control.close();
  }
}

interface DeployFlags {
  composeFile?: string[];
  prune?: boolean;
  dryRun?: boolean;
  detach?: boolean;
  timeout: string;
  profile?: string[];
}

async function deployAction(name: string, opts: DeployFlags, cmd: Command): Promise<void> {
  checkStackName(name);
  const timeout = parseDuration(opts.timeout);
  if (!timeout.ok) throw new UsageError(`invalid --timeout "${opts.timeout}": ${timeout.message}`);
  const { stack, leftOut } = loadFiles(opts.composeFile, name, 'deploy', opts.profile);
  await withControl(cmd, async (control) => {
    const log = (line: string) => out(`${line}\n`);
    const { plan, objects, changed } = await deployStack(control, {
      stack: name, spec: stack, prune: opts.prune === true, dryRun: opts.dryRun === true, env: process.env, log, leftOut,
    });
    const empty = plan.empty && objects.empty;
    if (opts.dryRun) {
      out(renderObjectPlan(objects));
      out(renderPlan({ ...plan, empty }, name));
      out('dry run: nothing was applied\n');
      return;
    }
    if (empty) out('nothing to change\n');
    if (!opts.detach) await waitConverged(control, changed, { timeoutMs: timeout.value, log });
  });
}

async function lsAction(opts: { format?: string }, cmd: Command): Promise<void> {
  const format = formatOf(opts.format);
  const rows = await withControl(cmd, async (c) => stackRows(await c.listServices({ labels: { [STACK_NAMESPACE_LABEL]: '' } })));
  if (format === 'json') return printJson(rows);
  out(renderTable(['NAME', 'SERVICES'], rows.map((r) => [r.name, String(r.services)])));
}

async function servicesAction(name: string, opts: { format?: string }, cmd: Command): Promise<void> {
  checkStackName(name);
  const format = formatOf(opts.format);
  const rows = await withControl(cmd, async (c) => {
    const services = [...(await stackServices(c, name)).values()];
    if (services.length === 0) return [];
    return serviceRows(services, await c.listTasks({ serviceIds: services.map((s) => s.id) }));
  });
  if (format === 'json') return printJson(rows);
  if (rows.length === 0) return void process.stderr.write(`nothing found in stack: ${name}\n`);
  out(renderTable(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], rows.map((r) => [r.id, r.name, r.mode, r.replicas, r.image, r.ports])));
}

async function psAction(name: string, opts: { format?: string }, cmd: Command): Promise<void> {
  checkStackName(name);
  const format = formatOf(opts.format);
  const rows = await withControl(cmd, async (c) => {
    const services = [...(await stackServices(c, name)).values()];
    if (services.length === 0) return [];
    const tasks = await c.listTasks({ serviceIds: services.map((s) => s.id) });
    // Hostnames are a nicety: a node list that cannot be read leaves node ids in the table.
    const nodes = await c.listNodes().catch(() => []);
    return taskRows(services, tasks, nodes);
  });
  if (format === 'json') return printJson(rows);
  if (rows.length === 0) return void process.stderr.write(`nothing found in stack: ${name}\n`);
  out(renderTable(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows.map((r) => [r.id, r.name, r.image, r.node, r.desiredState, r.currentState, r.error])));
}

// Services first, then the stack's secrets, configs and networks: the manager refuses to
// remove an object that a service still refers to.
async function rmAction(names: string[], _opts: object, cmd: Command): Promise<void> {
  for (const n of names) checkStackName(n);
  await withControl(cmd, async (c) => {
    for (const name of names) {
      const services = [...(await stackServices(c, name)).values()];
      for (const s of services) {
        out(`removing service ${s.spec?.annotations?.name ?? s.id}\n`);
        await c.removeService(s.id);
      }
      const objects = await removeStackObjects(c, name, { log: (line) => out(`${line}\n`) });
      if (services.length === 0 && objects === 0) process.stderr.write(`nothing found in stack: ${name}\n`);
    }
  });
}

const profileHelp = 'deploy the services of this Compose profile too (repeatable; default: COMPOSE_PROFILES); services with `profiles:` are left out otherwise';

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('deploy and inspect stacks described in Compose files');
  stack
    .command('config')
    .description('print the fully resolved stack file (interpolated, merged, normalised)')
    .option('-c, --compose-file <file>', 'Compose file (required; - reads standard input); repeat to merge overrides in order', collect)
    .option('--stack-name <name>', 'check service names against this stack name (63-character limit)')
    .option('--profile <name>', profileHelp, collect)
    .action((opts: { composeFile?: string[]; stackName?: string; profile?: string[] }) => {
      const loaded = loadFiles(opts.composeFile, opts.stackName, 'config', opts.profile);
      for (const l of loaded.leftOut) process.stderr.write(`left out: service ${l.service} (${leftOutReason(l)})\n`);
      out(renderStack(loaded.stack));
    });
  addConnectionOptions(stack
    .command('deploy')
    .description('create or update the services of a stack; only changed services are updated')
    .argument('<name>', 'stack name (prefix of its services, networks and volumes)')
    .option('-c, --compose-file <file>', 'Compose file (required); repeat to merge overrides in order', collect)
    .option('--prune', 'remove services, secrets, configs and networks of the stack that are no longer in the file')
    .option('--dry-run', 'print the plan (create / update with a field diff / remove) and apply nothing')
    .option('-d, --detach', 'return once the changes are accepted, without waiting for convergence')
    .option('--timeout <duration>', 'how long to wait for convergence', '5m')
    .option('--profile <name>', profileHelp, collect))
    .action(deployAction);
  addConnectionOptions(stack.command('ls').alias('list').description('list stacks').option('--format <format>', 'table or json')).action(lsAction);
  addConnectionOptions(stack.command('services').description('list the services of a stack').argument('<name>').option('--format <format>', 'table or json')).action(servicesAction);
  addConnectionOptions(stack.command('ps').description('list the tasks of a stack').argument('<name>').option('--format <format>', 'table or json')).action(psAction);
  addConnectionOptions(stack.command('rm').alias('remove').description('remove stacks (their services, then their secrets, configs and networks)').argument('<name...>')).action(rmAction);
}
