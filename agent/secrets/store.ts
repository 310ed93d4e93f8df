// The secrets and configs this node was sent, in memory only, keyed by id. The dispatcher sends
// them before the tasks that refer to them: a COMPLETE assignment set replaces both sets, an
// incremental change adds or replaces one (UPDATE) or drops one by id (REMOVE).
import type { Config, Secret } from '../../proto/gen/types.js';

export class SecretStore {
  private readonly secrets = new Map<string, Secret>();
  private readonly configs = new Map<string, Config>();

  /** A COMPLETE assignment set: whatever is not in it is forgotten. */
  replace(secrets: Secret[], configs: Config[]): void {
    this.secrets.clear();
    this.configs.clear();
    for (const s of secrets) this.putSecret(s);
    for (const c of configs) this.putConfig(c);
  }

  putSecret(s: Secret): void {
    if (s.id) this.secrets.set(s.id, s);
  }

  removeSecret(id: string): void {
    this.secrets.delete(id);
  }

  putConfig(c: Config): void {
    if (c.id) this.configs.set(c.id, c);
  }

  removeConfig(id: string): void {
    this.configs.delete(id);
  }

  secret(id: string): Secret | undefined {
    return this.secrets.get(id);
  }

  config(id: string): Config | undefined {
    return this.configs.get(id);
  }

  /** Ids held now (for logs and tests; never the data). */
  ids(): { secrets: string[]; configs: string[] } {
    return { secrets: [...this.secrets.keys()], configs: [...this.configs.keys()] };
  }
}
