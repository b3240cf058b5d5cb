// The demo shop: web → api (v1 and v2 split 90/10) → inventory, each pod on its own loopback
// address so every sidecar uses the standard ports.

export interface DemoPod {
  id: string;
  service: string;
  version: string;
  zone: string;
  address: string;
  calls?: string;
}

export const appPort = 8000;
export const ingressAddress = '127.0.0.1';
export const ingressPort = 8080;

export const demoPods: DemoPod[] = [
  { id: 'web-1', service: 'web', version: 'v1', zone: 'zone-a', address: '127.0.1.1', calls: 'api' },
  { id: 'web-2', service: 'web', version: 'v1', zone: 'zone-b', address: '127.0.1.2', calls: 'api' },
  { id: 'api-v1-1', service: 'api', version: 'v1', zone: 'zone-a', address: '127.0.1.11', calls: 'inventory' },
  { id: 'api-v1-2', service: 'api', version: 'v1', zone: 'zone-b', address: '127.0.1.12', calls: 'inventory' },
  { id: 'api-v2-1', service: 'api', version: 'v2', zone: 'zone-a', address: '127.0.1.21', calls: 'inventory' },
  { id: 'inventory-1', service: 'inventory', version: 'v1', zone: 'zone-a', address: '127.0.1.31' },
  { id: 'inventory-2', service: 'inventory', version: 'v1', zone: 'zone-b', address: '127.0.1.32' },
];

export const demoResources = `
apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata:
  name: mesh
spec:
  trustDomain: demo.trellis.local
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  ports: [{ name: http, port: ${appPort}, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: api
spec:
  ports: [{ name: http, port: ${appPort}, protocol: http }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: api-v1
spec:
  ports: [{ name: http, port: ${appPort}, protocol: http }]
  selector: { app: api, version: v1 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: api-v2
spec:
  ports: [{ name: http, port: ${appPort}, protocol: http }]
  selector: { app: api, version: v2 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: inventory
spec:
  ports: [{ name: http, port: ${appPort}, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api-split
spec:
  parentRefs: [{ name: api, kind: Service }]
  rules:
    - backendRefs:
        - { name: api-v1, weight: 90 }
        - { name: api-v2, weight: 10 }
`;
