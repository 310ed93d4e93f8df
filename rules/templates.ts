// Docker's task templates in a service's hostname ("{{.Node.Hostname}}-{{.Task.Slot}}"): the node
// expands them when it makes the task's container; the checks see a sample expansion.

export interface TemplateValues {
  serviceId: string;
  serviceName: string;
  nodeId: string;
  nodeHostname: string;
  taskId: string;
  taskName: string;
  taskSlot: string;
}

const FIELDS: Record<string, keyof TemplateValues> = {
  '.Service.ID': 'serviceId',
  '.Service.Name': 'serviceName',
  '.Node.ID': 'nodeId',
  '.Node.Hostname': 'nodeHostname',
  '.Task.ID': 'taskId',
  '.Task.Name': 'taskName',
  '.Task.Slot': 'taskSlot',
};
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** `text` with every placeholder replaced; throws naming the first unknown one. */
export function expandTemplate(text: string, values: TemplateValues): string {
  return text.replace(PLACEHOLDER, (_, field: string) => {
    const key = FIELDS[field];
    if (!key) throw new Error(`unknown template ${JSON.stringify(`{{${field}}}`)}: use ${Object.keys(FIELDS).map((f) => `{{${f}}}`).join(', ')}`);
    return values[key];
  });
}

const SAMPLE: TemplateValues = { serviceId: 'svc', serviceName: 'svc', nodeId: 'node', nodeHostname: 'host', taskId: 'task', taskName: 'task', taskSlot: '1' };

/** `text` as a task would see it (sample values), or the problem with its placeholders. */
export function sampleExpansion(text: string): { ok: true; value: string } | { ok: false; why: string } {
  try {
    return { ok: true, value: expandTemplate(text, SAMPLE) };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}
