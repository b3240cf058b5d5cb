// The detector of a cluster without outlier detection: nothing is ever ejected (Envoy's
// DetectorHostMonitorNullImpl). Taking over from a real detector readmits its ejected hosts.
import type { ClusterEndpoint } from '../cluster-endpoint.js';
import type { OutlierDetector } from './outlier-detector.js';

class NullOutlierDetector implements OutlierDetector {
  tick(): boolean {
    return false;
  }
  attemptStarted(): boolean {
    return false;
  }
  attemptEnded(): boolean {
    return false;
  }
  setHosts(hosts: readonly ClusterEndpoint[]): void {
    for (const h of hosts) {
      h.outlier = 'active';
      h.probing = false;
      h.consecutiveFailures = 0;
    }
  }
  close(): void {}
}

export const nullOutlierDetector: OutlierDetector = new NullOutlierDetector();
