// Chooses a cluster's detector from its config: the null detector when outlier detection is off.
import type { OutlierDetection } from '../../config/proxy-config.js';
import type { OutlierDetector, OutlierDetectorDeps } from './outlier-detector.js';
import { nullOutlierDetector } from './outlier-detector-null.js';
import { OutlierDetectorImpl } from './outlier-detector-impl.js';

export function createOutlierDetector(config: OutlierDetection | undefined, deps: OutlierDetectorDeps): OutlierDetector {
  if (config === undefined || (config.consecutiveFailures <= 0 && config.successRate === undefined)) return nullOutlierDetector;
  return new OutlierDetectorImpl(config, deps);
}
