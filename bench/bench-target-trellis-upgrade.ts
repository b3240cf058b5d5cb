// `trellis-mesh-h2-upgrade`: the `trellis-mesh` path with MeshConfig h2UpgradePolicy UPGRADE, so
// the HTTP/1.1 requests wrk sends travel between the two sidecars as HTTP/2 streams (mTLS off, as
// in `trellis-mesh`). Its baseline is `trellis-mesh`, where they stay HTTP/1.1 (the default,
// DO_NOT_UPGRADE): the two hop policies side by side in one run.
import { benchAddresses, meshServiceName } from './bench-addresses.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { configDump, startMeshVariant } from './bench-target-mesh-variant.js';

const meshConfig = `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { h2UpgradePolicy: UPGRADE }
`;

/** The sidecar's cluster of the mesh service speaks HTTP/2 to its peers. */
async function upgraded(address: string): Promise<string | null> {
  const dump = await configDump(address) as { clusters: Array<{ name: string; upstreamProtocol?: string }> };
  const cluster = dump.clusters.find((c) => c.name === `${meshServiceName}.default`);
  return cluster?.upstreamProtocol === 'h2' ? null : `sidecar at ${address}: cluster ${meshServiceName}.default is ${cluster?.upstreamProtocol ?? 'missing'}, not h2`;
}

export function startTrellisUpgradeTarget(ctx: BenchContext, upstream: Upstream): Promise<StartedTarget> {
  return startMeshVariant(ctx, upstream, {
    name: 'trellis-mesh-h2-upgrade', addresses: benchAddresses.h2Upgrade, meshConfig, sidecarFlags: [], settled: upgraded, baseline: 'trellis-mesh',
    note: 'h2UpgradePolicy UPGRADE: HTTP/1.1 carried between the sidecars as HTTP/2 streams; compare with trellis-mesh (HTTP/1.1 hop) in the same run',
  });
}
