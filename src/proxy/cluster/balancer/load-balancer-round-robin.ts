// Weighted round-robin. The order is precomputed with nginx's smooth weighted round-robin when
// endpoints change, so a pick is an array index; weights 3:1 give A A B A, not A A A B.
// Unhealthy endpoints are never picked, not even when no healthy one is left.
import {
  failPicker, registerLoadBalancer, usable, type BalancerHost, type LoadBalancer, type PickComplete, type Picker,
} from './load-balancer.js';

export const roundRobinName = 'round-robin';

/** Bounds the precomputed schedule; larger weight sums are scaled down proportionally. */
const maxScheduleLength = 4096;

class RoundRobinPicker implements Picker {
  private next: number;
  constructor(private readonly schedule: readonly PickComplete[], start: number) {
    this.next = start % schedule.length;
  }
  pick(): PickComplete {
    const result = this.schedule[this.next];
    this.next = this.next + 1 === this.schedule.length ? 0 : this.next + 1;
    return result;
  }
}

export class RoundRobinLoadBalancer implements LoadBalancer {
  readonly name = roundRobinName;
  picker: Picker = failPicker;

  constructor(private readonly random: () => number = Math.random) {}

  updateEndpoints(hosts: readonly BalancerHost[]): void {
    const candidates = usable(hosts);
    if (candidates.length === 0) {
      this.picker = failPicker;
      return;
    }
    const schedule = buildSchedule(candidates);
    // A random start spreads many proxies' first requests over the endpoints.
    this.picker = new RoundRobinPicker(schedule, Math.floor(this.random() * schedule.length));
  }
}

export function buildSchedule(hosts: readonly BalancerHost[]): PickComplete[] {
  let weights = hosts.map((h) => Math.max(1, Math.floor(h.endpoint.weight)));
  const g = weights.reduce(gcd);
  weights = weights.map((w) => w / g);
  let total = weights.reduce((a, b) => a + b, 0);
  if (total > maxScheduleLength) {
    const scale = maxScheduleLength / total;
    weights = weights.map((w) => Math.max(1, Math.round(w * scale)));
    total = weights.reduce((a, b) => a + b, 0);
  }
  const current = new Array<number>(hosts.length).fill(0);
  const schedule: PickComplete[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    schedule.push(hosts[best]);
  }
  return schedule;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function setup(): void {
  registerLoadBalancer(roundRobinName, (_policy, deps) => new RoundRobinLoadBalancer(deps.random));
}
