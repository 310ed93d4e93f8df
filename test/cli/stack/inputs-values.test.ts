// /work/shared/stack-inputs.md, "Types and values", "Keys" and "Interpolation": each line as
// a case, either an error naming file, line, column and key path, or the accepted value.
import { describe, expect, it } from 'vitest';
import { expectProblem, load, loadError, svc } from './helpers.js';

describe('types and values', () => {
  it.each([
    ['"three"', /expected a whole number, got "three"/],
    ['-1', /must be at least 0; got -1/],
    ['1.5', /expected a whole number, got 1.5/],
  ])('replicas: %s is an error at its line and column', (value, message) => {
    const err = loadError(svc(`    deploy:\n      replicas: ${value}\n`));
    expectProblem(err, { path: 'services.web.deploy.replicas', line: 5, column: 17, message });
    expect(err.message).toMatch(/^stack\.yml:5:17: services\.web\.deploy\.replicas: /);
  });

  it('replicas: ${N:-3} is 3 (types are checked after interpolation)', () => {
    expect(load(svc('    deploy:\n      replicas: ${N:-3}\n')).stack.services.web!.deploy.replicas).toBe(3);
    expect(load(svc('    deploy:\n      replicas: ${N:-3}\n'), { N: '7' }).stack.services.web!.deploy.replicas).toBe(7);
    expectProblem(loadError(svc('    deploy:\n      replicas: ${N}\n'), { N: 'x' }), { path: 'services.web.deploy.replicas', message: /whole number, got "x"/ });
  });

  it.each([
    ['memory: -512M', 'memory', /invalid size "-512M"/],
    ['cpus: "abc"', 'cpus', /invalid cpus "abc"/],
    ['memory: 99999999T', 'memory', /too large/],
    ['cpus: 0', 'cpus', /positive number/],
  ])('%s is an error', (line, key, message) => {
    const err = loadError(svc(`    deploy:\n      resources:\n        limits:\n          ${line}\n`));
    expectProblem(err, { path: `services.web.deploy.resources.limits.${key}`, line: 7, column: 11 + key.length + 2, message });
  });

  it('sizes and cpus are bytes and nano-CPUs', () => {
    const { stack } = load(svc('    deploy:\n      resources:\n        limits: {memory: 1.5G, cpus: "2.5", pids: 100}\n        reservations: {memory: 512m, cpus: 2}\n'));
    expect(stack.services.web!.deploy.resources).toEqual({
      limits: { memoryBytes: 1.5 * 1024 ** 3, nanoCpus: 2_500_000_000, pids: 100 },
      reservations: { memoryBytes: 512 * 1024 ** 2, nanoCpus: 2_000_000_000 },
    });
    expect(load(svc('    tmpfs: /run:size=100k\n')).stack.services.web!.mounts[0]).toMatchObject({ type: 'tmpfs', sizeBytes: 102_400 });
  });

  it.each([['1m30s', 90_000], ['500ms', 500], ['2h', 7_200_000], ['1.5s', 1500], ['0', 0]])('duration %s is %d ms', (d, ms) => {
    expect(load(svc(`    stop_grace_period: ${d}\n`)).stack.services.web!.stopGracePeriodMs).toBe(ms);
  });

  it.each(['10 parsecs', '10', '1x', 'ms'])('duration "%s" is an error naming the units', (d) => {
    expectProblem(loadError(svc(`    stop_grace_period: ${d}\n`)), { path: 'services.web.stop_grace_period', line: 4, column: 24, message: /invalid duration .*(units h, m, s, ms|add a unit, e\.g\. 10s)/ });
  });

  it('mode: 0440 on a secret or config is octal (288), quoted or not', () => {
    const text = svc('    secrets:\n      - {source: s, mode: 0440, uid: "100"}\n    configs:\n      - {source: c, mode: "0640"}\n',
      'secrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {file: /etc/c.conf}\n');
    const web = load(text).stack.services.web!;
    expect(web.secrets).toEqual([{ source: 's', target: 's', uid: '100', gid: '0', mode: 288 }]);
    expect(web.configs).toEqual([{ source: 'c', target: '/c', uid: '0', gid: '0', mode: 0o640 }]);
    expect(load(text).stack.secrets.s!.file).toBe('/srv/app/s.txt');
    expectProblem(loadError(text.replace('0440', '99999')), { path: 'services.web.secrets[0].mode', message: /invalid file mode/ });
  });

  it('numbers where Compose wants strings: user: 1000, uid: 100', () => {
    const text = svc('    user: 1000\n    configs:\n      - {source: c, uid: 100, gid: 101, mode: 0440}\n', 'configs:\n  c: {external: true}\n');
    const web = load(text).stack.services.web!;
    expect(web.user).toBe('1000');
    expect(web.configs[0]).toEqual({ source: 'c', target: '/c', uid: '100', gid: '101', mode: 288 });
  });

  it('the error exposes the first problem\'s file, line, column and path', () => {
    const err = loadError(svc('    deploy:\n      replicas: three\n'));
    expect([err.file, err.line, err.column, err.path]).toEqual(['stack.yml', 5, 17, 'services.web.deploy.replicas']);
    expect(err.name).toBe('StackFileError');
  });

  it('version: 3.10 (a float in YAML) is accepted and ignored', () => {
    expect(Object.keys(load(`version: 3.10\n${svc('')}`).stack.services)).toEqual(['web']);
    expect(Object.keys(load(`version: "2"\n${svc('')}`).stack.services)).toEqual(['web']);
  });

  it('environment values true, 1 and empty (taken from the caller)', () => {
    const env = load(svc('    environment:\n      FOO: true\n      BAR: 1\n      QUX:\n      NOPE:\n'), { QUX: 'from-caller' }).stack.services.web!.environment;
    expect(env).toEqual({ FOO: 'true', BAR: '1', QUX: 'from-caller' });
    const list = load(svc('    environment:\n      - A=1\n      - QUX\n      - B=x=y\n'), { QUX: 'q' }).stack.services.web!.environment;
    expect(list).toEqual({ A: '1', QUX: 'q', B: 'x=y' });
  });

  it('service names: the character set, and <stack>_<service> within 63 characters', () => {
    expectProblem(loadError('services:\n  "web app":\n    image: x\n'), { path: 'services.web app', line: 2, column: 3, message: /invalid service name "web app"/ });
    const long = 'a'.repeat(60);
    expect(Object.keys(load(`services:\n  ${long}:\n    image: x\n`).stack.services)).toEqual([long]);
    expectProblem(loadError(`services:\n  ${long}:\n    image: x\n`, {}, 'prod'), { line: 2, column: 3, message: /"prod_a+" is 65 characters/ });
    expect(Object.keys(load('services:\n  a.b_c-1:\n    image: x\n', {}, 'prod').stack.services)).toEqual(['a.b_c-1']);
  });
});

describe('keys', () => {
  it('servcies at top level names the likely key', () => {
    const err = loadError('version: "3.8"\nservcies:\n  web:\n    image: x\n');
    expectProblem(err, { path: 'servcies', line: 2, column: 1, message: /unknown key `servcies`: did you mean `services`\?/ });
    expect(err.problems).toHaveLength(1);
    expectProblem(loadError('version: "3.8"\nnetworks: {n: {}}\n'), { path: '', message: /no `services:` key: a stack file needs a mapping of service names/ });
    expectProblem(loadError('services: {}\n'), { path: 'services', line: 1, column: 11, message: /`services` is empty/ });
    expectProblem(loadError('services:\n  x-only: 1\n'), { path: 'services', message: /`services` is empty/ });
    expect(Object.keys(load(svc('', 'networks:\nvolumes:\nsecrets:\nconfigs:\n')).stack.networks)).toEqual([]);
  });

  it('deploy: {replica: 2} names the path and the likely key', () => {
    expectProblem(loadError(svc('    deploy: {replica: 2}\n')), { path: 'services.web.deploy.replica', line: 4, column: 14, message: /did you mean `replicas`/ });
  });

  it('a deploy key at the service level says where it belongs', () => {
    expectProblem(loadError(svc('    replicas: 2\n')), { path: 'services.web.replicas', line: 4, column: 5, message: /use `deploy.replicas`/ });
    expectProblem(loadError(svc('    mem_limit: 1g\n')), { message: /use `deploy.resources.limits.memory`/ });
    expectProblem(loadError(svc('    extends: {service: base}\n')), { path: 'services.web.extends', message: /merge with -c BASE -c FILE, or use a YAML anchor/ });
    expectProblem(loadError(svc('    enviroment: {A: 1}\n    healthcheck: {intreval: 5s}\n')), { path: 'services.web.enviroment', message: /did you mean `environment`/ });
  });

  it('x-anything is accepted at any level', () => {
    const text = 'x-top: {a: 1}\nservices:\n  x-not-a-service: 1\n  web:\n    image: x\n    x-note: hi\n    deploy:\n      x-d: 1\n      placement: {x-p: [1]}\n    ports:\n      - {target: 80, x-port: 1}\n    networks: {net: {x-a: 1}, x-b: 2}\n    ulimits: {x-u: 3}\n    healthcheck: {x-h: 1}\nnetworks:\n  x-n: 1\n  net: {x-y: 2}\n';
    const { stack } = load(text);
    expect(Object.keys(stack.services)).toEqual(['web']);
    expect(stack.services.web!.networks).toEqual({ net: { aliases: [] } });
    expect(stack.services.web!.ulimits).toEqual({});
    expect(Object.keys(stack.networks)).toEqual(['net']);
  });

  it('developer-only keys are accepted with a warning naming each key', () => {
    const text = svc([
      '    build: {context: ., target: dev}', '    depends_on: {db: {condition: service_healthy}}', '    container_name: web1',
      '    links: [db]', '    network_mode: host', '    privileged: true', '    restart: on-failure:3', '',
    ].join('\n'), '  db:\n    image: postgres\n    depends_on: [web]\n');
    const { stack, warnings } = load(text);
    const keys = warnings.map((w) => w.path);
    for (const k of ['build', 'depends_on', 'container_name', 'links', 'network_mode', 'privileged', 'restart']) {
      expect(keys).toContain(`services.web.${k}`);
    }
    expect(keys).toContain('services.db.depends_on');
    expect(warnings.find((w) => w.path === 'services.web.build')).toMatchObject({ line: 4, column: 5, message: expect.stringMatching(/ignored in cluster mode/) });
    // restart is the fallback restart policy
    expect(stack.services.web!.deploy.restartPolicy).toMatchObject({ condition: 'on-failure', maxAttempts: 3 });
    expect(load(svc('    restart: "no"\n')).stack.services.web!.deploy.restartPolicy.condition).toBe('none');
    const explicit = load(svc('    restart: always\n    deploy: {restart_policy: {condition: none}}\n')).stack.services.web!;
    expect(explicit.deploy.restartPolicy.condition).toBe('none');
  });

  it('mode: global with replicas: 3 is an error', () => {
    expectProblem(loadError(svc('    deploy:\n      mode: global\n      replicas: 3\n')), { path: 'services.web.deploy.replicas', line: 6, column: 7, message: /mode global runs one task on every eligible node/ });
    expect(load(svc('    deploy: {mode: global}\n')).stack.services.web!.deploy.replicas).toBeUndefined();
    expect(load(svc('    deploy: {mode: replicated-job, replicas: 4}\n')).stack.services.web!.deploy).toMatchObject({ mode: 'replicated-job', replicas: 4, restartPolicy: { condition: 'on-failure' } });
  });

  it('healthcheck with both test and disable: true is an error', () => {
    expectProblem(loadError(svc('    healthcheck:\n      test: ["CMD", "true"]\n      disable: true\n')), { path: 'services.web.healthcheck.disable', line: 6, column: 7, message: /both `test` and `disable: true`/ });
    expect(load(svc('    healthcheck: {disable: true}\n')).stack.services.web!.healthcheck).toEqual({ test: ['NONE'] });
    expect(load(svc('    healthcheck: {test: curl -f localhost, interval: 5s, retries: 3, start_period: 1m}\n')).stack.services.web!.healthcheck)
      .toEqual({ test: ['CMD-SHELL', 'curl -f localhost'], intervalMs: 5000, retries: 3, startPeriodMs: 60_000 });
  });

  it.each([
    ['networks: [back]', 'services.web.networks.back', /network "back" is not declared/],
    ['volumes: ["data:/d"]', 'services.web.volumes[0]', /volume "data" is not declared/],
    ['secrets: [pw]', 'services.web.secrets[0]', /secret "pw" is not declared/],
    ['configs: [{source: conf, target: /etc/c}]', 'services.web.configs[0]', /config "conf" is not declared/],
  ])('%s without a top-level declaration is an error', (line, path, message) => {
    expectProblem(loadError(svc(`    ${line}\n`)), { path, line: 4, message });
  });

  it('declared references, and the implicit default network', () => {
    const { stack } = load(svc('    networks: {back: {aliases: [api]}}\n    volumes: ["data:/d:ro", "./site:/site", {type: tmpfs, target: /tmp}]\n',
      'networks:\n  back:\n    driver: overlay\n    attachable: true\nvolumes:\n  data:\n'));
    expect(stack.services.web!.networks).toEqual({ back: { aliases: ['api'] } });
    expect(stack.services.web!.mounts).toEqual([
      { type: 'volume', source: 'data', target: '/d', readOnly: true, noCopy: false },
      { type: 'bind', source: '/srv/app/site', target: '/site', readOnly: false },
      { type: 'tmpfs', target: '/tmp', readOnly: false },
    ]);
    expect(load(svc('')).stack.services.web!.networks).toEqual({ default: { aliases: [] } });
  });

  it('two ingress publications of one port, or two mounts on one path, are errors', () => {
    expectProblem(loadError(svc('    ports: ["80:80"]\n', '  api:\n    image: api\n    ports: ["80:8080", "81:8080/udp"]\n')),
      { path: 'services.api.ports', line: 7, column: 5, message: /port 80\/tcp is published by services web and api/ });
    expectProblem(loadError(svc('    ports: ["80:80", "80:81"]\n')), { message: /published twice by service web/ });
    expect(load(svc('    ports: ["80:80", "80:80/udp", {target: 90, published: 90, mode: host}]\n', '  api:\n    image: api\n    ports: [{target: 90, published: 90, mode: host}]\n')).stack.services.api!.ports).toHaveLength(1);
    expectProblem(loadError(svc('    volumes: ["/a:/data", "/b:/data/"]\n')), { path: 'services.web.volumes[1]', message: /two mounts target \/data/ });
  });

  it('an external network or volume cannot also say how to create it', () => {
    expectProblem(loadError(svc('', 'networks:\n  n:\n    external: true\n    driver: overlay\n')), { path: 'networks.n.driver', line: 7, column: 5, message: /cannot be used with `external`/ });
    expect(load(svc('', 'networks:\n  n:\n    external: true\n    name: shared\n')).stack.networks.n).toMatchObject({ external: true, name: 'shared' });
    expect(load(svc('', 'networks:\n  n:\n    external: {name: legacy}\n')).stack.networks.n).toMatchObject({ external: true, name: 'legacy' });
  });

  it('counts above 2^31-1 are refused', () => {
    expectProblem(loadError(svc('    deploy: {replicas: 99999999999}\n')), { path: 'services.web.deploy.replicas', message: /at most 2147483647/ });
  });

  it('what every node would refuse is refused at its line, with the rules the cluster uses', () => {
    const cases: [string, string, RegExp][] = [
      ['    deploy: {restart_policy: {delay: 99999999h}}\n', 'services.web.deploy.restart_policy.delay', /too long: at most 2562047h/],
      ['    deploy: {resources: {limits: {memory: 1k}}}\n', 'services.web.deploy.resources.limits.memory', /at least 6291456/],
      ['    user: "root;rm"\n', 'services.web.user', /invalid user "root;rm"/],
      ['    hostname: "bad host"\n', 'services.web.hostname', /invalid hostname "bad host"/],
      ['    healthcheck: {test: "true", interval: 1ns}\n', 'services.web.healthcheck', /interval of 1ns is below the minimum of 100ms/],
    ];
    for (const [text, path, message] of cases) expectProblem(loadError(svc(text)), { path, message });
    expectProblem(loadError('services:\n  web:\n    image: ../../etc\n'), { path: 'services.web.image', message: /invalid image reference/ });
  });

  it.each([
    ['node.role = manager', /expected FIELD==VALUE or FIELD!=VALUE/],
    ['node.rol == manager', /unknown field "node.rol"/],
    ['node.role == boss', /node.role is "manager" or "worker"/],
    ['node.labels.zone ==', /the value is empty/],
    ['node.labels.x===y', /use exactly one == or != operator/],
  ])('placement constraint %j is an error at its entry', (c, message) => {
    expectProblem(loadError(svc(`    deploy:\n      placement:\n        constraints:\n          - ${c}\n`)), { path: 'services.web.deploy.placement.constraints[0]', line: 7, column: 13, message });
  });

  it('valid constraints and spreads', () => {
    const { stack } = load(svc('    deploy:\n      placement:\n        constraints: [node.role==manager, "node.labels.zone != a", engine.labels.os == linux, node.platform.arch==x86_64]\n        preferences: [{spread: node.labels.rack}]\n'));
    expect(stack.services.web!.deploy.placement.constraints).toHaveLength(4);
    expectProblem(loadError(svc('    deploy:\n      placement:\n        preferences: [{spread: rack}]\n')), { path: 'services.web.deploy.placement.preferences[0].spread', message: /invalid spread "rack"/ });
  });

  it.each([
    ['cap_add: [NET_ADMN]', 'services.web.cap_add[0]', /unknown capability "NET_ADMN"/],
    ['stop_signal: SIGFOO', 'services.web.stop_signal', /unknown signal "SIGFOO"/],
    ['ulimits: {nofiles: 10}', 'services.web.ulimits.nofiles', /unknown ulimit "nofiles"/],
    ['ulimits: {nofile: {soft: 20, hard: 10}}', 'services.web.ulimits.nofile', /soft limit 20 is above the hard limit 10/],
    ['ulimits: {nofile: {soft: -1, hard: 10}}', 'services.web.ulimits.nofile', /unlimited soft limit \(-1\) is above the hard limit 10/],
    ['sysctls: [vm.swappiness=10]', 'services.web.sysctls', /sysctl vm.swappiness is not namespaced/],
  ])('%s is an error naming the entry', (line, path, message) => {
    expectProblem(loadError(svc(`    ${line}\n`)), { path, line: 4, message });
  });

  it('capabilities, signals, ulimits and sysctls in their accepted spellings', () => {
    const web = load(svc('    cap_add: [cap_net_admin, ALL]\n    stop_signal: TERM\n    ulimits: {nofile: {soft: 10, hard: 20}, core: -1}\n    sysctls: {net.ipv4.ip_forward: 1, kernel.shmmax: 100}\n')).stack.services.web!;
    expect(web.capAdd).toEqual(['cap_net_admin', 'ALL']);
    expect(web.stopSignal).toBe('TERM');
  });

  it('a secret or config takes exactly one of file, environment and external; the variable must be set', () => {
    expectProblem(loadError(svc('', 'configs:\n  c: {file: ./c, environment: C}\n'), { C: 'x' }), { path: 'configs.c', line: 5, column: 3, message: /`file` and `environment` exclude each other/ });
    expectProblem(loadError(svc('', 'secrets:\n  pw: {environment: PW}\n')), { path: 'secrets.pw.environment', line: 5, message: /environment variable PW \(content of secret pw\) is not set: export it/ });
    const ok = load(svc('', 'secrets:\n  pw: {environment: PW}\n'), { PW: 'hunter2' }).stack;
    expect(ok.secrets.pw).toEqual({ external: false, environment: 'PW', labels: {} });
  });

  it('secret and config targets: numeric uid/gid, no "..", one file per container path', () => {
    const decl = 'secrets:\n  s: {file: ./s}\n  t: {file: ./t}\nconfigs:\n  c: {file: ./c}\n';
    expectProblem(loadError(svc('    secrets: [{source: s, uid: www}]\n', decl)), { path: 'services.web.secrets[0].uid', message: /uid "www" must be a number/ });
    expectProblem(loadError(svc('    secrets: [{source: s, target: ../x}]\n', decl)), { path: 'services.web.secrets[0].target', message: /without "\.\."/ });
    expectProblem(loadError(svc('    secrets: [s, {source: t, target: /run/secrets/s}]\n', decl)), { path: 'services.web.secrets[1].target', message: /secret "s" and secret "t" both land at \/run\/secrets\/s/ });
    expectProblem(loadError(svc('    secrets: [{source: s, target: /etc/x}]\n    configs: [{source: c, target: /etc/x}]\n', decl)), { path: 'services.web.configs[0].target', message: /secret "s" and config "c" both land at \/etc\/x/ });
    expect(load(svc('    secrets: [s, t]\n    configs: [c]\n', decl)).stack.services.web!.secrets).toHaveLength(2);
  });

  it('a secret needs file or external', () => {
    expectProblem(loadError(svc('', 'secrets:\n  pw: {name: x}\n')), { path: 'secrets.pw', line: 5, column: 3, message: /needs `file:`.*or `external: true`/ });
  });
});

describe('interpolation', () => {
  it('${DOMAIN?Variable not set} with DOMAIN unset quotes the message', () => {
    const err = loadError(svc('    labels:\n      - traefik.rule=Host(`${DOMAIN?Variable not set}`)\n'));
    expectProblem(err, { path: 'services.web.labels[0]', line: 5, column: 9, message: /required variable DOMAIN is unset: Variable not set/ });
    expect(load(svc('    labels:\n      - rule=${DOMAIN?x}\n'), { DOMAIN: 'a.org' }).stack.services.web!.labels).toEqual({ rule: 'a.org' });
    expectProblem(loadError(svc('    hostname: ${H:?must be set}\n'), { H: '' }), { message: /H is empty: must be set/ });
  });

  it('an unterminated ${FOO is an error; $$ is a literal $', () => {
    expectProblem(loadError(svc('    hostname: ${FOO\n')), { path: 'services.web.hostname', line: 4, column: 15, message: /unterminated "\$\{"/ });
    expect(load(svc("    command: echo '$$HOME' $${X}\n")).stack.services.web!.command).toEqual(['echo', '$HOME', '${X}']);
    expectProblem(loadError(svc('    command: echo $1\n')), { message: /write "\$\$" for a literal "\$"/ });
  });

  it('${VERSION-v4.1-3.0.2} keeps a default with dashes whole', () => {
    expect(load('services:\n  web:\n    image: app:${VERSION-v4.1-3.0.2}\n').stack.services.web!.image).toBe('app:v4.1-3.0.2');
    expect(load('services:\n  web:\n    image: app:1${VERSION-v4.1-3.0.2}\n', { VERSION: '' }).stack.services.web!.image).toBe('app:1');
    expect(load('services:\n  web:\n    image: app:${VERSION:-v4.1-3.0.2}\n', { VERSION: '' }).stack.services.web!.image).toBe('app:v4.1-3.0.2');
    expect(load('services:\n  web:\n    image: ${REG:+$REG/}app:${TAG:-${DEF:-1}}\n', { REG: 'r.io' }).stack.services.web!.image).toBe('r.io/app:1');
  });

  it('{{.Node.ID}} and {{.Task.Slot}} pass through untouched', () => {
    const web = load(svc('    hostname: "{{.Node.Hostname}}-{{.Task.Slot}}"\n    environment: ["NODE_ID={{.Node.ID}}"]\n')).stack.services.web!;
    expect(web.hostname).toBe('{{.Node.Hostname}}-{{.Task.Slot}}');
    expect(web.environment).toEqual({ NODE_ID: '{{.Node.ID}}' });
  });

  it('an unset variable without a default is empty, with a warning', () => {
    const { stack, warnings } = load(svc('    user: ${APP_USER}\n'));
    expect(stack.services.web!.user).toBe('');
    expect(warnings).toContainEqual(expect.objectContaining({ path: 'services.web.user', line: 4, message: expect.stringMatching(/APP_USER is not set/) }));
  });
});

describe('values the cluster would refuse, caught at load time with a line', () => {
  it('an image with whitespace', () => {
    expectProblem(loadError('services:\n  web:\n    image: "nginx 1.25"\n'), { path: 'services.web.image', line: 3, message: /contains whitespace/ });
  });

  it('a reservation above its limit', () => {
    const err = loadError(svc('    deploy:\n      resources:\n        limits: { memory: 64M, cpus: "0.5" }\n        reservations: { memory: 128M, cpus: "1" }\n'));
    expectProblem(err, { path: 'services.web.deploy.resources.reservations.memory', message: /exceeds the memory limit/ });
    expectProblem(err, { path: 'services.web.deploy.resources.reservations.cpus', message: /exceed the CPU limit \(0\.5\)/ });
    expect(load(svc('    deploy:\n      resources:\n        limits: { memory: 128M }\n        reservations: { memory: 128M }\n')).stack.services.web!.deploy.resources.reservations.memoryBytes).toBe(134217728);
  });
});
