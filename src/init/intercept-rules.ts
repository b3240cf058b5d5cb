// The iptables nat rules of transparent interception (what Istio's istio-init and Linkerd's
// proxy-init install): the app's outbound TCP goes to the sidecar's outbound port, inbound TCP to
// its inbound port, and the sidecar's own traffic (its uid or gid) passes untouched. A pure
// builder: it returns the rules as iptables-restore text, which the runner applies atomically.

/** Every chain Trellis owns starts with this; removal finds them (and the jumps to them) by it. */
export const chainPrefix = 'TRELLIS_';

export const chains = {
  /** PREROUTING → here: which inbound connections go to the sidecar. */
  inbound: 'TRELLIS_INBOUND',
  inRedirect: 'TRELLIS_IN_REDIRECT',
  /** OUTPUT → here: which of the pod's own connections go to the sidecar. */
  output: 'TRELLIS_OUTPUT',
  redirect: 'TRELLIS_REDIRECT',
} as const;

export interface InterceptOptions {
  /** The sidecar runs as this uid (and/or gid): its own connections are never redirected. */
  proxyUids: number[];
  proxyGids: number[];
  /** The sidecar's outbound listener (15001) and inbound listener (15006). */
  outboundPort: number;
  inboundPort: number;
  /** Inbound ports redirected: '*' (all but the excluded) or a list. */
  inboundPorts: '*' | number[];
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  /** Outbound destinations redirected: '*' (all but the excluded) or a list of CIDRs. */
  includeOutboundCidrs: '*' | string[];
  excludeOutboundCidrs: string[];
}

/** The rules, in iptables-restore syntax, for `iptables-restore --noflush` on the nat table. */
export function buildInterceptRules(o: InterceptOptions): string {
  const lines = ['*nat'];
  for (const c of Object.values(chains)) lines.push(`:${c} - [0:0]`);
  lines.push(`-A ${chains.inRedirect} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`);
  lines.push(`-A ${chains.redirect} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);

  // Inbound: connections arriving from other hosts, to any port of the pod but the excluded.
  const inboundPorts = o.inboundPorts;
  if (inboundPorts === '*' || inboundPorts.length > 0) {
    lines.push(`-A PREROUTING -p tcp -j ${chains.inbound}`);
    if (inboundPorts === '*') {
      // the sidecar's own inbound port too: peers address it directly, a redirect would only cost conntrack work
      for (const p of unique([o.inboundPort, ...o.excludeInboundPorts])) lines.push(`-A ${chains.inbound} -p tcp --dport ${p} -j RETURN`);
      lines.push(`-A ${chains.inbound} -p tcp -j ${chains.inRedirect}`);
    } else {
      const excluded = new Set(o.excludeInboundPorts);
      for (const p of unique(inboundPorts)) if (!excluded.has(p)) lines.push(`-A ${chains.inbound} -p tcp --dport ${p} -j ${chains.inRedirect}`);
    }
  }

  // Outbound: connections the pod's processes open.
  lines.push(`-A OUTPUT -p tcp -j ${chains.output}`);
  for (const uid of unique(o.proxyUids)) lines.push(`-A ${chains.output} -m owner --uid-owner ${uid} -j RETURN`);
  for (const gid of unique(o.proxyGids)) lines.push(`-A ${chains.output} -m owner --gid-owner ${gid} -j RETURN`);
  // The app talking to itself (127.0.0.0/8 or its own addresses) stays local, as in Istio. The
  // sidecar always reaches peers on their inbound port, so Istio's rule that sends the sidecar's
  // own loopback calls back inbound is not needed (and an --app on the pod address never loops).
  lines.push(`-A ${chains.output} -o lo -j RETURN`);
  for (const p of unique(o.excludeOutboundPorts)) lines.push(`-A ${chains.output} -p tcp --dport ${p} -j RETURN`);
  for (const c of unique(o.excludeOutboundCidrs)) lines.push(`-A ${chains.output} -d ${c} -j RETURN`);
  if (o.includeOutboundCidrs === '*') lines.push(`-A ${chains.output} -j ${chains.redirect}`);
  else for (const c of unique(o.includeOutboundCidrs)) lines.push(`-A ${chains.output} -d ${c} -j ${chains.redirect}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/**
 * From `iptables -t nat -S` output: the iptables arguments that undo Trellis's rules — first every
 * jump from a built-in chain into ours (deleted by its exact spec), then our chains flushed, then
 * deleted. Rules of anyone else are never touched.
 */
export function buildRemoval(listing: string): { deleteRules: string[][]; chains: string[] } {
  const deleteRules: string[][] = [];
  const ours: string[] = [];
  for (const line of listing.split('\n')) {
    const args = line.trim().split(/\s+/);
    if (args[0] === '-N' && args[1]?.startsWith(chainPrefix)) ours.push(args[1]);
    else if (args[0] === '-A' && args[1] && !args[1].startsWith(chainPrefix)) {
      const j = args.indexOf('-j');
      if (j > 0 && args[j + 1]?.startsWith(chainPrefix)) deleteRules.push(['-D', ...args.slice(1)]);
    }
  }
  return { deleteRules, chains: ours };
}
