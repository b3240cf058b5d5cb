import { Command, Option, InvalidArgumentError } from 'commander';
import { logLevels, type LogLevel } from '../common/log.js';
import { ports } from '../common/ports.js';
import { defaultApiUrl, useApiToken } from './api-client.js';
import { parseOutputFormat } from './output.js';
import { parseCount, parseDuration, parseHostPort, parseHostPortList, parseLabels, parsePort, parseServiceList, parseSize } from './parse-flags.js';
import { parseSteps } from './command-canary.js';
import { parseCidrList, parseCidrsOrAll, parseIdList, parsePortList, parsePortsOrAll } from '../init/intercept-flags.js';
import { trellisVersion } from '../common/version.js';

// commander calls these with (value, previous); wrap our parsers so bad values become usage errors.
const asParser = <T>(parse: (v: string) => T) => (v: string): T => {
  try {
    return parse(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const parseFraction = (v: string): number => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new Error(`"${v}" is not a fraction between 0 and 1`);
  return n;
};
const logLevelOption = () => new Option('--log-level <level>', 'log level').choices(logLevels as unknown as string[]).default('info');
const tokenOption = () => new Option('--token <token>', 'API token: the admin token, or a read token for reads and tap (or TRELLIS_TOKEN)');
const tokenFileOption = () => new Option('--token-file <path>', 'read the API token from this file (e.g. <data-dir>/admin-token)');
const outputOption = () => new Option('-o, --output <format>', 'output: table or json').argParser(asParser(parseOutputFormat)).default('table');

/**
 * Runs a command and turns its result or error into the exit code. Commands are imported only
 * when run: a sidecar process must not load the control plane's gRPC stack, nor the CLI the proxy.
 */
function run(action: (...args: any[]) => Promise<number | void>) {
  return async (...args: any[]) => {
    try {
      const code = await action(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('trellis')
  .description('Trellis: a light, observable service mesh')
  .version(trellisVersion(), '--version')
  .addOption(new Option('--api <url>', 'control plane HTTP API').default(defaultApiUrl()))
  .showHelpAfterError();
// every command that talks to the API takes --token/--token-file (`proxy --token` is its join token instead)
program.hook('preAction', (_program, command) => {
  if (command.options.some((o) => o.long === '--token-file')) useApiToken(command.opts());
});
const withAuth = (command: Command) => command.addOption(tokenOption()).addOption(tokenFileOption());
const api = () => program.opts().api as string;

program.command('version').description('print the version').action(() => {
  process.stdout.write(`trellis ${trellisVersion()} (node ${process.version})\n`);
});

program.command('control').description('run the control plane (xDS, registry, CA, HTTP API)')
  .option('--data-dir <dir>', 'where resources and state are stored', '.trellis/control')
  .option('--listen <addr>', 'address to bind the xDS and API ports', '127.0.0.1')
  .option('--xds-port <port>', 'xDS (gRPC) port', asParser((v) => parsePort(v, '--xds-port')), ports.controlXds)
  .option('--api-port <port>', 'HTTP API port', asParser((v) => parsePort(v, '--api-port')), ports.controlApi)
  .option('--grace <duration>', 'how long a disconnected proxy keeps its endpoints', asParser((v) => parseDuration(v, '--grace')), 10_000)
  .option('--store <url>', 'share resources and connected proxies with other replicas in etcd: etcd://HOST:PORT[,HOST:PORT][/prefix] (default: a file in the data dir)')
  .option('--ca-cert <path>', 'the CA certificate to sign with (PEM; an intermediate followed by its issuers up to the root); default: a root created in the data dir')
  .option('--ca-key <path>', 'the private key of --ca-cert (ECDSA P-256, PEM)')
  .option('--ca-key-passphrase-file <path>', 'with --store etcd://: encrypt the generated CA key kept in etcd with this passphrase (every replica needs the same file)')
  .option('--cert-ttl <duration>', 'lifetime of sidecar certificates (at least 1m)', asParser((v) => parseDuration(v, '--cert-ttl')), 24 * 3_600_000)
  .addOption(new Option('--api-auth <mode>', 'API requests that need the admin token: writes, or reads too (default: writes on loopback, reads elsewhere)').choices(['writes', 'reads']))
  .addOption(new Option('--xds-auth <mode>', 'sidecars on the xDS port: required (a join token or mesh certificate), or optional (credentials checked when present)').choices(['required', 'optional']).default('optional'))
  .option('--debounce <duration>', 'push once changes stop coming for this long (like PILOT_DEBOUNCE_AFTER)', asParser((v) => parseDuration(v, '--debounce')), 100)
  .option('--debounce-max <duration>', 'but never hold a change back longer than this (like PILOT_DEBOUNCE_MAX)', asParser((v) => parseDuration(v, '--debounce-max')), 1000)
  .addOption(logLevelOption())
  .action(run((o) => import('./command-control.js').then((m) => m.controlCommand({
    dataDir: o.dataDir, listen: o.listen, xdsPort: o.xdsPort, apiPort: o.apiPort, grace: o.grace, store: o.store, logLevel: o.logLevel as LogLevel,
    caCert: o.caCert, caKey: o.caKey, caKeyPassphraseFile: o.caKeyPassphraseFile, certTtl: o.certTtl, apiAuth: o.apiAuth, xdsAuth: o.xdsAuth, debounce: o.debounce, debounceMax: o.debounceMax,
  }))));

program.command('proxy').description('run a sidecar proxy beside one service instance')
  .requiredOption('--service <name>', 'the service this instance belongs to')
  .option('--app <addr:port>', 'the local application (omit for an ingress)', asParser((v) => (parseHostPort(v, '--app'), v)))
  .option('--address <addr>', 'the pod address every listener binds', '127.0.0.1')
  .option('--namespace <ns>', 'the service namespace', 'default')
  .option('--labels <k=v,...>', 'instance labels (version, zone, region, ...)', asParser(parseLabels), {})
  .option('--control <addr:port,...>', 'control plane xDS address; several replicas comma-separated (the sidecar moves to another when its replica fails)', asParser((v) => (parseHostPortList(v, '--control'), v)), `127.0.0.1:${ports.controlXds}`)
  .option('--state-dir <dir>', 'where the last good config (and the certificate) is saved')
  .addOption(new Option('--token <token>', 'join token (trellis token create); without one the sidecar has no identity').env('TRELLIS_TOKEN'))
  .option('--ca-api <url>', 'control plane HTTP API that issues certificates (default: each --control host, port 15080)')
  .option('--id <id>', 'proxy id (default <service>-<address>)')
  .option('--ingress-for <service>', 'act as an ingress: send requests for unknown hosts to this service')
  .option('--egress <services>', 'the services this instance calls (name or name.namespace, comma-separated); the sidecar then gets only their config (default: every service)', asParser(parseServiceList))
  .option('--admin-port <port>', 'admin port', asParser((v) => parsePort(v, '--admin-port')), ports.proxyAdmin)
  .option('--outbound-port <port>', 'outbound listener port', asParser((v) => parsePort(v, '--outbound-port')), ports.proxyOutbound)
  .option('--inbound-port <port>', 'inbound listener port', asParser((v) => parsePort(v, '--inbound-port')), ports.proxyInbound)
  .option('--drain <duration>', 'how long in-flight requests may finish on SIGTERM', asParser((v) => parseDuration(v, '--drain')), 5000)
  .option('--access-log <path>', 'write access-log lines to this file instead of stdout (MeshConfig accessLog turns them on)')
  .option('--intercept', 'transparent interception (after trellis init in this network namespace): take the connections iptables redirects to 127.0.0.1:<outbound-port>')
  .option('--uid <uid>', 'run as this uid (started as root): the uid trellis init --proxy-uid exempts from interception', asParser((v) => parseIdList(v, '--uid')[0]))
  .option('--gid <gid>', 'run as this gid (started as root; default: the --uid)', asParser((v) => parseIdList(v, '--gid')[0]))
  .option('--max-header-size <size>', 'request and response heads: target and header names and values (431 / 502 beyond)', asParser((v) => parseSize(v, '--max-header-size')), 60 * 1024)
  .option('--max-headers <n>', 'header fields per request or response (431 / 502 beyond)', asParser((v) => parseCount(v, '--max-headers')), 100)
  .option('--max-request-line <size>', 'method and request target (414 beyond)', asParser((v) => parseSize(v, '--max-request-line')), 16 * 1024)
  .option('--header-timeout <duration>', 'time for a request head to arrive (408 and close beyond; 0 = off)', asParser((v) => parseDuration(v, '--header-timeout')), 10_000)
  .option('--idle-timeout <duration>', 'keep-alive client connections with no request are closed after this (0 = never)', asParser((v) => parseDuration(v, '--idle-timeout')), 60_000)
  .option('--stream-idle-timeout <duration>', 'a request with no byte moving either way for this long is ended (408 or 504; 0 = off)', asParser((v) => parseDuration(v, '--stream-idle-timeout')), 300_000)
  .option('--max-connections <n>', 'downstream connections across all listeners; beyond, 503 and close (0 = no cap)', asParser((v) => parseCount(v, '--max-connections')), 10_000)
  .option('--max-memory <size>', 'resident memory above which new requests get 503 overloaded (default: only the V8 heap guard at 90% of its limit)', asParser((v) => parseSize(v, '--max-memory')), 0)
  .option('--no-request-metrics', 'do not count or time requests (to measure what telemetry costs; trellis stat, canaries and dashboards then see nothing from this sidecar)')
  .addOption(logLevelOption())
  .action(run((o) => import('./command-proxy.js').then((m) => m.proxyCommand({ ...o, logLevel: o.logLevel as LogLevel }))));

withAuth(program.command('apply').description('create or update resources from YAML/JSON (all or nothing)')
  .requiredOption('-f, --filename <path>', 'a file, a directory, or - for stdin')
  .option('--dry-run', 'validate on the control plane without storing')
  .option('--wait', 'return once every connected proxy has ACKed a config that includes the change (non-zero exit naming those that have not)')
  .option('--timeout <duration>', 'how long --wait waits', asParser((v) => parseDuration(v, '--timeout')), 30_000)
  .addOption(outputOption())
  ).action(run((o) => import('./command-apply.js').then((m) => m.applyCommand(api(), o.filename, { dryRun: o.dryRun, output: o.output, wait: o.wait, timeoutMs: o.timeout }))));

withAuth(program.command('get').description('list services, routes, grpcroutes, policies, endpoints or proxies')
  .argument('<kind>', 'services | routes | grpcroutes | policies | endpoints | proxies')
  .argument('[name]', 'only this one')
  .addOption(outputOption())
  ).action(run((kind, name, o) => import('./command-get.js').then((m) => m.getCommand(api(), kind, name, o.output))));

withAuth(program.command('describe').description('show one resource or proxy in detail')
  .argument('<kind>', 'service | route | grpcroute | policy | proxy')
  .argument('<name>', 'its name (a proxy: its id)')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .addOption(outputOption())
  ).action(run((kind, name, o) => import('./command-describe.js').then((m) => m.describeCommand(api(), kind, name, o.namespace, o.output))));

withAuth(program.command('delete').description('delete a resource')
  .argument('<kind>', 'Service | HTTPRoute | GRPCRoute | MeshConfig | ... (or an alias such as svc, route, grpcroute)')
  .argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  ).action(run((kind, name, o) => import('./command-delete.js').then((m) => m.deleteCommand(api(), kind, name, o.namespace))));

withAuth(program.command('check').description('is the control plane healthy and every proxy connected and in sync?')
  .addOption(outputOption())
  ).action(run((o) => import('./command-check.js').then((m) => m.checkCommand(api(), o.output))));

withAuth(program.command('tap').description('live requests through the sidecars of a service (never bodies); Ctrl-C or --max ends it')
  .argument('<service>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('--path <prefix>', 'only paths starting with this')
  .option('--status <code>', 'only this status (503) or class (5xx)')
  .option('--max <n>', 'stop after this many requests', asParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--max must be a whole number >= 0, got "${v}"`);
    return n;
  }), 0)
  .addOption(outputOption())
  ).action(run((service, o) => import('./command-tap.js').then((m) => m.tapCommand(api(), service, { namespace: o.namespace, path: o.path, status: o.status, max: o.max, output: o.output }))));

withAuth(program.command('stat').description('golden metrics per service, route and caller -> callee edge: rps, success rate, p50/p95/p99')
  .argument('[service]', 'only rows that involve this service')
  .option('--window <duration>', 'how far back to look (1s to 1h)', asParser((v) => (parseDuration(v, '--window'), v)), '1m')
  .option('-w, --watch', 'refresh every 2 s until Ctrl-C')
  .addOption(outputOption())
  ).action(run((service, o) => import('./command-stat.js').then((m) => m.statCommand(api(), service, { window: o.window, output: o.output, watch: !!o.watch }))));

withAuth(program.command('prometheus-config').description('print a Prometheus scrape configuration for every sidecar (file-based discovery)')
  .option('--file-sd <path>', 'the targets file as Prometheus sees it (default: the one the control plane writes)')
  .option('--scrape-interval <duration>', 'Prometheus scrape interval', asParser((v) => (parseDuration(v, '--scrape-interval'), v)), '15s')
  .option('--job-name <name>', 'the job label of the scraped series', 'trellis-sidecars')
  ).action(run((o) => import('./command-prometheus-config.js').then((m) => m.prometheusConfigCommand(api(), { fileSd: o.fileSd, scrapeInterval: o.scrapeInterval, jobName: o.jobName }))));

const token = program.command('token').description('tokens: join tokens (a sidecar shows one to obtain its certificate) and API read tokens (--read)');
withAuth(token.command('create').description('create a join token for one service, or with --read an API read token (printed once)')
  .option('--service <name>', 'a join token: the service whose sidecars it admits')
  .option('--namespace <ns>', 'namespace of --service', 'default')
  .option('--read', 'an API read token instead: reads the API and taps (trellis tap), never writes')
  .option('--name <name>', 'with --read: who or what uses the token (shown by trellis token list)')
  .option('--ttl <duration>', 'how long the token is valid (default: 24h for a join token, 30d for a read token)', asParser((v) => parseDuration(v, '--ttl')))
  .addOption(outputOption()))
  .action(run((o) => import('./command-token.js').then((m) => m.tokenCreateCommand(api(), { service: o.service, namespace: o.namespace, read: !!o.read, name: o.name, ttlMs: o.ttl, output: o.output }))));
withAuth(token.command('list').description('list join and read tokens (never their secrets)')
  .addOption(new Option('--kind <kind>', 'only join or only read tokens').choices(['join', 'read']))
  .addOption(outputOption()))
  .action(run((o) => import('./command-token.js').then((m) => m.tokenListCommand(api(), o.output, o.kind))));
withAuth(token.command('revoke').alias('delete').description('revoke a token: a join token admits no new certificates or renewals, a read token reads no more')
  .argument('<id>', 'the token id (trellis token list)')
  .addOption(outputOption()))
  .action(run((id, o) => import('./command-token.js').then((m) => m.tokenRevokeCommand(api(), id, o.output))));

const canary = withAuth(program.command('canary').description('canary or blue/green rollout run by the control plane (--steps 100 switches at once)')
  .argument('<service>', 'the service whose traffic moves')
  .option('--to <backend>', 'the new backend Service (required)')
  .option('--from <backend>', 'the old backend (default: the current one of the service\'s route, else the service itself)')
  .option('--steps <list>', 'percentages to the new backend, rising to 100', asParser((v) => parseSteps(v)), [1, 5, 25, 50, 100])
  .option('--interval <duration>', 'time each step runs before it is judged', asParser((v) => parseDuration(v, '--interval')), 30_000)
  .option('--max-error-rate-increase <fraction>', 'roll back when the new error rate exceeds the old by more (0.05 = 5 points)', asParser(parseFraction), 0.05)
  .option('--max-p99-ratio <ratio>', 'roll back when the new p99 exceeds the old times this', asParser(Number), 1.5)
  .option('--min-requests <n>', 'requests to the new backend a step needs to be judged', asParser(Number), 10)
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .addOption(outputOption())
  .action(run((service, o) => import('./command-canary.js').then((m) => m.canaryStartCommand(api(), service, {
    namespace: o.namespace, to: o.to, from: o.from, steps: o.steps, intervalMs: o.interval,
    maxErrorRateIncrease: o.maxErrorRateIncrease, maxP99Ratio: o.maxP99Ratio, minRequests: o.minRequests, output: o.output,
  })))));
// -n, -o and --token belong to `canary` itself: commander hands them to it wherever they stand,
// so the subcommands read them from there rather than declaring them twice
const canaryOpts = () => {
  useApiToken(canary.opts());
  return canary.opts();
};
canary.command('status').description('where rollouts stand: step, weights, verdicts and the metrics judged (-n, -o, --token)')
  .argument('[service]')
  .action(run((service) => import('./command-canary.js').then((m) => m.canaryStatusCommand(api(), service, canaryOpts().namespace, canaryOpts().output))));
canary.command('abort').description('stop a progressing rollout and send everything back to the old backend (-n, --token)')
  .argument('<service>')
  .action(run((service) => import('./command-canary.js').then((m) => m.canaryActionCommand(api(), 'abort', service, canaryOpts().namespace))));
canary.command('rollback').description('switch back to the old backend at once (blue/green), running or finished (-n, --token)')
  .argument('<service>')
  .action(run((service) => import('./command-canary.js').then((m) => m.canaryActionCommand(api(), 'rollback', service, canaryOpts().namespace))));

program.command('init').description('transparent interception for this network namespace (run as root inside it): iptables rules send the app\'s TCP through the sidecar')
  .option('--proxy-uid <uid,...>', 'the uid the sidecar runs as (trellis proxy --uid): its own traffic is not intercepted', asParser((v) => parseIdList(v, '--proxy-uid')), [1337])
  .option('--proxy-gid <gid,...>', 'exclude the sidecar by gid as well (or instead, with --proxy-uid "")', asParser((v) => parseIdList(v, '--proxy-gid')), [])
  .option('--outbound-port <port>', 'the sidecar\'s outbound listener', asParser((v) => parsePort(v, '--outbound-port')), ports.proxyOutbound)
  .option('--inbound-port <port>', 'the sidecar\'s inbound listener', asParser((v) => parsePort(v, '--inbound-port')), ports.proxyInbound)
  .option('--inbound-ports <ports|*>', 'inbound ports redirected to the sidecar: * (all) or a list; "" for none', asParser((v) => parsePortsOrAll(v, '--inbound-ports')), '*' as const)
  .option('--exclude-inbound-ports <ports>', 'inbound ports left alone (the sidecar admin port is always excluded)', asParser((v) => parsePortList(v, '--exclude-inbound-ports')), [])
  .option('--admin-port <port>', 'the sidecar\'s admin port, never redirected (the control plane scrapes it)', asParser((v) => parsePort(v, '--admin-port')), ports.proxyAdmin)
  .option('--exclude-outbound-ports <ports>', 'outbound destination ports left alone', asParser((v) => parsePortList(v, '--exclude-outbound-ports')), [])
  .option('--include-outbound-cidrs <cidrs|*>', 'outbound destinations redirected: * (all) or IPv4 CIDRs; "" for none', asParser((v) => parseCidrsOrAll(v, '--include-outbound-cidrs')), '*' as const)
  .option('--exclude-outbound-cidrs <cidrs>', 'outbound destinations left alone (IPv4 CIDRs)', asParser((v) => parseCidrList(v, '--exclude-outbound-cidrs')), [])
  .option('--iptables <command>', 'the iptables binary (iptables, iptables-legacy, iptables-nft or a path); its -restore twin loads the rules', 'iptables')
  .option('--dry-run', 'print the rules instead of installing them')
  .option('--remove', 'remove the interception rules (every TRELLIS_* chain and the jumps into them)')
  .action(run((o) => import('./command-init.js').then((m) => m.initCommand({
    proxyUids: o.proxyUid, proxyGids: o.proxyGid, outboundPort: o.outboundPort, inboundPort: o.inboundPort,
    inboundPorts: o.inboundPorts, excludeInboundPorts: [o.adminPort, ...o.excludeInboundPorts], excludeOutboundPorts: o.excludeOutboundPorts,
    includeOutboundCidrs: o.includeOutboundCidrs, excludeOutboundCidrs: o.excludeOutboundCidrs,
    iptables: o.iptables, dryRun: !!o.dryRun, remove: !!o.remove,
  }))));

program.command('demo').description('run a local demo mesh: control plane, a small shop with sidecars, ingress, traffic')
  .option('--no-traffic', 'do not start the traffic generator')
  .option('--rps <n>', 'requests per second of the traffic generator', asParser((v) => parsePort(v, '--rps')), 20)
  .addOption(logLevelOption().default('warn'))
  .action(run((o) => import('./command-demo.js').then((m) => m.demoCommand({ traffic: o.traffic, rps: o.rps, logLevel: o.logLevel as LogLevel }))));

await program.parseAsync(process.argv);
