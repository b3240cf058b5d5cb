// Least request with power of two choices (Envoy's LEAST_REQUEST): draw choiceCount hosts at
// random (two distinct ones by default) and take the one with the fewest attempts in flight.
// Weights follow Envoy's formula, effective weight = weight / (in-flight + 1) (active request
// bias 1), applied to the drawn hosts: the one with the highest effective weight wins, so under
// load in-flight counts settle in proportion to the weights. O(1) per pick, no allocation.
import type { LbPolicy } from '../../config/proxy-config.js';
import {
  failPicker, registerLoadBalancer, usable, type BalancerHost, type LoadBalancer, type PickResult,
  type Picker,
} from './load-balancer.js';

export const leastRequestName = 'least-request';

class LeastRequestPicker implements Picker {
  constructor(
    private readonly hosts: readonly BalancerHost[],
    private readonly choiceCount: number,
    private readonly random: () => number,
  ) {}

  pick(): PickResult {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 1) return hosts[0];
    const random = this.random;
    const i = Math.floor(random() * n);
    let j = Math.floor(random() * (n - 1));
    if (j >= i) j++;
    let best = hosts[i];
    let bestLoad = load(best);
    const b = hosts[j];
    const bLoad = load(b);
    if (bLoad < bestLoad) {
      best = b;
      bestLoad = bLoad;
    }
    // Further choices (choiceCount > 2) are drawn with replacement, as Envoy does.
    for (let k = 2; k < this.choiceCount; k++) {
      const c = hosts[Math.floor(random() * n)];
      const l = load(c);
      if (l < bestLoad) {
        best = c;
        bestLoad = l;
      }
    }
    return best;
  }
}

function load(h: BalancerHost): number {
  return (h.inFlight + 1) / h.endpoint.weight;
}

export class LeastRequestLoadBalancer implements LoadBalancer {
  readonly name = leastRequestName;
  picker: Picker = failPicker;
  private readonly choiceCount: number;

  constructor(policy: Extract<LbPolicy, { kind: 'least-request' }>, private readonly random: () => number) {
    this.choiceCount = Math.max(2, Math.floor(policy.choiceCount) || 2);
  }

  updateEndpoints(hosts: readonly BalancerHost[]): void {
    const candidates = usable(hosts);
    this.picker = candidates.length === 0 ? failPicker : new LeastRequestPicker(candidates, this.choiceCount, this.random);
  }
}

export function setup(): void {
  registerLoadBalancer(leastRequestName, (policy, deps) =>
    new LeastRequestLoadBalancer(policy.kind === 'least-request' ? policy : { kind: 'least-request', choiceCount: 2 }, deps.random));
}
