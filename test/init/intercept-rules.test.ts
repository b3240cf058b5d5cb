import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildInterceptRules, buildRemoval, type InterceptOptions } from '../../src/init/intercept-rules.js';
import { parseCidrList, parseCidrsOrAll, parseIdList, parsePortList, parsePortsOrAll } from '../../src/init/intercept-flags.js';
import { initCommand, type InitFlags } from '../../src/cli/command-init.js';
import type { IptablesExec } from '../../src/init/iptables-runner.js';

const base: InterceptOptions = {
  proxyUids: [1337], proxyGids: [], outboundPort: 15001, inboundPort: 15006,
  inboundPorts: '*', excludeInboundPorts: [15000], excludeOutboundPorts: [], includeOutboundCidrs: '*', excludeOutboundCidrs: [],
};
const rulesOf = (o: Partial<InterceptOptions>) => buildInterceptRules({ ...base, ...o }).split('\n');

describe('buildInterceptRules', () => {
  it('redirects outbound to 15001 and inbound to 15006, the sidecar uid and loopback excepted, in that order', () => {
    assert.deepEqual(rulesOf({}), [
      '*nat',
      ':TRELLIS_INBOUND - [0:0]',
      ':TRELLIS_IN_REDIRECT - [0:0]',
      ':TRELLIS_OUTPUT - [0:0]',
      ':TRELLIS_REDIRECT - [0:0]',
      '-A TRELLIS_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
      '-A TRELLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
      '-A PREROUTING -p tcp -j TRELLIS_INBOUND',
      '-A TRELLIS_INBOUND -p tcp --dport 15006 -j RETURN',
      '-A TRELLIS_INBOUND -p tcp --dport 15000 -j RETURN',
      '-A TRELLIS_INBOUND -p tcp -j TRELLIS_IN_REDIRECT',
      '-A OUTPUT -p tcp -j TRELLIS_OUTPUT',
      '-A TRELLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A TRELLIS_OUTPUT -o lo -j RETURN',
      '-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT',
      'COMMIT',
      '',
    ]);
  });

  it('excludes by gid, ports and CIDRs before the redirect, each once', () => {
    const rules = rulesOf({ proxyGids: [1337], excludeOutboundPorts: [53, 53, 5432], excludeOutboundCidrs: ['10.0.0.0/8'] });
    const out = rules.filter((l) => l.startsWith('-A TRELLIS_OUTPUT'));
    assert.deepEqual(out, [
      '-A TRELLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A TRELLIS_OUTPUT -m owner --gid-owner 1337 -j RETURN',
      '-A TRELLIS_OUTPUT -o lo -j RETURN',
      '-A TRELLIS_OUTPUT -p tcp --dport 53 -j RETURN',
      '-A TRELLIS_OUTPUT -p tcp --dport 5432 -j RETURN',
      '-A TRELLIS_OUTPUT -d 10.0.0.0/8 -j RETURN',
      '-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT',
    ]);
  });

  it('redirects only the listed inbound ports (minus excluded ones) and only the listed outbound CIDRs', () => {
    const rules = rulesOf({ inboundPorts: [8080, 9090, 15000], includeOutboundCidrs: ['10.200.0.0/16'] });
    assert.deepEqual(rules.filter((l) => l.startsWith('-A TRELLIS_INBOUND')), [
      '-A TRELLIS_INBOUND -p tcp --dport 8080 -j TRELLIS_IN_REDIRECT',
      '-A TRELLIS_INBOUND -p tcp --dport 9090 -j TRELLIS_IN_REDIRECT',
    ]);
    assert.ok(rules.includes('-A TRELLIS_OUTPUT -d 10.200.0.0/16 -j TRELLIS_REDIRECT'));
    assert.ok(!rules.includes('-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT'));
  });

  it('installs no inbound jump at all for an empty inbound port list, and no outbound redirect for no CIDRs', () => {
    const rules = rulesOf({ inboundPorts: [], includeOutboundCidrs: [] });
    assert.ok(!rules.some((l) => l.startsWith('-A PREROUTING') || l.startsWith('-A TRELLIS_INBOUND')));
    assert.ok(!rules.some((l) => l.endsWith('-j TRELLIS_REDIRECT') && l.startsWith('-A TRELLIS_OUTPUT')));
  });
});

describe('buildRemoval', () => {
  it('undoes only jumps into TRELLIS_ chains and those chains, leaving every other rule alone', () => {
    const listing = [
      '-P PREROUTING ACCEPT', '-P OUTPUT ACCEPT',
      '-N DOCKER', '-N TRELLIS_INBOUND', '-N TRELLIS_OUTPUT',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
      '-A PREROUTING -p tcp -j TRELLIS_INBOUND',
      '-A OUTPUT -p tcp -j TRELLIS_OUTPUT',
      '-A TRELLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE',
    ].join('\n');
    assert.deepEqual(buildRemoval(listing), {
      deleteRules: [['-D', 'PREROUTING', '-p', 'tcp', '-j', 'TRELLIS_INBOUND'], ['-D', 'OUTPUT', '-p', 'tcp', '-j', 'TRELLIS_OUTPUT']],
      chains: ['TRELLIS_INBOUND', 'TRELLIS_OUTPUT'],
    });
    assert.deepEqual(buildRemoval('-P OUTPUT ACCEPT\n'), { deleteRules: [], chains: [] });
  });
});

describe('init flags', () => {
  it('parses lists and refuses bad values naming the flag', () => {
    assert.deepEqual(parsePortList('80, 443', '--x'), [80, 443]);
    assert.deepEqual(parsePortList('', '--x'), []);
    assert.equal(parsePortsOrAll('*', '--x'), '*');
    assert.throws(() => parsePortList('80,http', '--exclude-outbound-ports'), /--exclude-outbound-ports: "http" is not a port number/);
    assert.throws(() => parsePortList('0', '--x'), /not a port number/);
    assert.throws(() => parsePortList('65536', '--x'), /not a port number/);
    assert.deepEqual(parseCidrList('10.0.0.0/8,192.0.2.7', '--x'), ['10.0.0.0/8', '192.0.2.7/32']);
    assert.equal(parseCidrsOrAll(' * ', '--x'), '*');
    for (const bad of ['10.0.0/8', '10.0.0.0/33', '10.0.0.0/8/1', '::1/128', 'host', '10.0.0.0/x']) {
      assert.throws(() => parseCidrList(bad, '--exclude-outbound-cidrs'), /--exclude-outbound-cidrs: ".*" is not an IPv4 address or CIDR/, bad);
    }
    assert.deepEqual(parseIdList('1337,0', '--proxy-uid'), [1337, 0]);
    assert.throws(() => parseIdList('-1', '--proxy-uid'), /--proxy-uid: "-1" is not a numeric id/);
  });
});

describe('trellis init', () => {
  const flags = (o: Partial<InitFlags> = {}): InitFlags => ({ ...base, iptables: 'iptables', dryRun: false, remove: false, ...o });
  const fakeIptables = () => {
    const calls: string[] = [];
    let nat = '-P OUTPUT ACCEPT\n';
    const exec: IptablesExec = async (command, args, input) => {
      calls.push(`${command} ${args.join(' ')}`);
      if (command === 'iptables-restore') nat += '-N TRELLIS_OUTPUT\n-A OUTPUT -p tcp -j TRELLIS_OUTPUT\n';
      if (args.includes('-S')) return { code: 0, stdout: nat, stderr: '' };
      if (args.includes('-X')) nat = '-P OUTPUT ACCEPT\n';
      return { code: 0, stdout: '', stderr: input === undefined ? '' : '' };
    };
    return { calls, exec };
  };

  it('prints the rules on --dry-run without running anything, even when not root', async () => {
    let printed = '';
    const { calls, exec } = fakeIptables();
    assert.equal(await initCommand(flags({ dryRun: true }), { exec, uid: 1000, out: (s) => { printed += s; } }), 0);
    assert.match(printed, /-A TRELLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
    assert.deepEqual(calls, []);
  });

  it('refuses to run as a user other than root, and without a uid or gid to exclude', async () => {
    await assert.rejects(initCommand(flags(), { exec: fakeIptables().exec, uid: 1000, out: () => undefined }), /must run as root \(running as uid 1000\)/);
    await assert.rejects(initCommand(flags({ proxyUids: [], dryRun: true }), { uid: 0, out: () => undefined }), /--proxy-uid or --proxy-gid is required/);
    await assert.rejects(initCommand(flags({ inboundPort: 15001, dryRun: true }), { uid: 0, out: () => undefined }), /must differ/);
  });

  it('replaces earlier rules on a second run and removes them all with --remove', async () => {
    const { calls, exec } = fakeIptables();
    const quiet = { exec, uid: 0, out: () => undefined };
    await initCommand(flags(), quiet);
    await initCommand(flags(), quiet);
    assert.deepEqual(calls.filter((c) => c.startsWith('iptables-restore')), ['iptables-restore -w --noflush', 'iptables-restore -w --noflush']);
    assert.ok(calls.includes('iptables -w -t nat -D OUTPUT -p tcp -j TRELLIS_OUTPUT'), 'the second run removed the first run\'s jump');
    calls.length = 0;
    await initCommand(flags({ remove: true }), quiet);
    assert.deepEqual(calls, [
      'iptables -w -t nat -S',
      'iptables -w -t nat -D OUTPUT -p tcp -j TRELLIS_OUTPUT',
      'iptables -w -t nat -F TRELLIS_OUTPUT',
      'iptables -w -t nat -X TRELLIS_OUTPUT',
    ]);
  });

  it('fails with iptables\' own message when a command fails', async () => {
    const exec: IptablesExec = async (command) => (command.endsWith('-restore')
      ? { code: 2, stdout: '', stderr: 'iptables-restore: line 3 failed' }
      : { code: 0, stdout: '', stderr: '' });
    await assert.rejects(initCommand(flags(), { exec, uid: 0, out: () => undefined }), /iptables-restore --noflush failed \(exit 2\): iptables-restore: line 3 failed/);
  });
});
