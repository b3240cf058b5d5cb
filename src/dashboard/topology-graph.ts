// The topology's cytoscape graph, updated in place: an update changes the data of the elements
// that changed, adds and removes the ones that came and went, and lays the graph out again only
// when its shape changed, so a steady mesh does not jump around every two seconds.
import cytoscape, { type Core, type ElementDefinition, type NodeSingular } from 'cytoscape';

/** Up to this many services without calls are laid out with the rest; more go in a grid of their own. */
const idleInline = 24;

export interface GraphNode { id: string; label: string; color: string }
export interface GraphEdge { id: string; source: string; target: string; label: string; color: string; width: number; subset?: boolean }

export interface GraphHandlers {
  openService(name: string): void;
  openEdge(from: string, to: string): void;
}

/** The graph's container carries the graph, so the browser tests (and a person in the devtools) can ask where an element is drawn. */
export type GraphContainer = HTMLElement & { topologyGraph?: TopologyGraph };

export class TopologyGraph {
  readonly cy: Core;

  constructor(container: GraphContainer, on: GraphHandlers) {
    this.cy = cytoscape({
      container,
      minZoom: 0.2,
      maxZoom: 3,
      wheelSensitivity: 0.3,
      style: [
        {
          selector: 'node',
          style: {
            'background-color': 'data(color)', label: 'data(label)', 'text-valign': 'bottom', 'text-margin-y': 6,
            'font-size': 13, 'text-wrap': 'wrap', color: '#1d2733', width: 34, height: 34, 'border-width': 2, 'border-color': '#ffffff',
          },
        },
        {
          selector: 'edge',
          style: {
            'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': 'data(color)', 'target-arrow-color': 'data(color)',
            width: 'data(width)', label: 'data(label)', 'font-size': 10, 'text-rotation': 'autorotate', color: '#1d2733',
            'text-background-color': '#ffffff', 'text-background-opacity': 0.85, 'text-background-padding': '2px',
          },
        },
        // a Service that selects part of another's pods (api-v1 → api): drawn, but not a call
        { selector: 'edge[?subset]', style: { 'line-style': 'dashed', 'target-arrow-shape': 'none', 'font-size': 9, color: '#5f6b78' } },
        { selector: ':selected', style: { 'border-color': '#1f5fbf', 'border-width': 4, 'line-style': 'dashed' } },
      ],
    });
    this.cy.on('tap', 'node', (e) => on.openService(e.target.id()));
    // a call opens its own page; a subset line (api-v1 → api) is no call: it opens the subset
    this.cy.on('tap', 'edge', (e) => (e.target.data('subset') ? on.openService(e.target.data('source')) : on.openEdge(e.target.data('source'), e.target.data('target'))));
    container.topologyGraph = this;
  }

  /** Where an element is drawn, in CSS pixels from the container's top left (an edge: its midpoint); null when absent. */
  renderedPosition(id: string): { x: number; y: number } | null {
    const el = this.cy.getElementById(id);
    if (el.empty()) return null;
    return el.isEdge() ? el.renderedMidpoint() : (el as NodeSingular).renderedPosition();
  }

  update(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): void {
    const cy = this.cy;
    let reshaped = false;
    const want = new Set<string>();
    cy.batch(() => {
      const add: ElementDefinition[] = [];
      for (const n of nodes) {
        want.add(n.id);
        const el = cy.getElementById(n.id);
        if (el.empty()) {
          add.push({ group: 'nodes', data: { ...n } });
          reshaped = true;
        } else if (el.data('label') !== n.label || el.data('color') !== n.color) {
          el.data({ label: n.label, color: n.color });
        }
      }
      if (add.length) cy.add(add);
      const addEdges: ElementDefinition[] = [];
      for (const e of edges) {
        want.add(e.id);
        const el = cy.getElementById(e.id);
        if (el.empty()) {
          addEdges.push({ group: 'edges', data: { ...e } });
          reshaped = true;
        } else if (el.data('label') !== e.label || el.data('color') !== e.color || el.data('width') !== e.width) {
          el.data({ label: e.label, color: e.color, width: e.width });
        }
      }
      if (addEdges.length) cy.add(addEdges);
      const gone = cy.elements().filter((el) => !want.has(el.id()));
      if (gone.nonempty()) {
        cy.remove(gone);
        reshaped = true;
      }
    });
    if (reshaped) this.layout();
  }

  layout(): void {
    const cy = this.cy;
    const alone = cy.nodes().filter((n) => n.degree(false) === 0);
    const linked = cy.elements().difference(alone);
    const rootsOf = (els: typeof linked) => els.nodes().filter((n) => n.indegree(false) === 0).map((n) => n.id());
    if (alone.length <= idleInline || linked.empty()) {
      const roots = rootsOf(cy.elements());
      cy.layout({ name: 'breadthfirst', directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.1, padding: 30, animate: false }).run();
      return;
    }
    // hundreds of services, most without calls: one row of them would shrink the graph to dots, so
    // the calls go on top and the services without calls in a compact grid beneath
    // a grid about as wide for its height as the graph's box, with room for each label
    const aspect = Math.max(1, cy.width() / Math.max(1, cy.height()));
    const cols = Math.max(1, Math.ceil(Math.sqrt((alone.length * aspect * 80) / 110)));
    const w = Math.max(cols * 110, 600);
    const roots = rootsOf(linked);
    linked.layout({ name: 'breadthfirst', directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.1, animate: false, fit: false, boundingBox: { x1: 0, y1: 0, w, h: 320 } }).run();
    alone.layout({ name: 'grid', cols, condense: true, avoidOverlap: true, animate: false, fit: false, boundingBox: { x1: 0, y1: 400, w, h: Math.ceil(alone.length / cols) * 80 } }).run();
    cy.fit(undefined, 30);
  }

  nodeIds(): string[] {
    return this.cy.nodes().map((n) => n.id()).sort();
  }

  edgeIds(): string[] {
    return this.cy.edges().map((e) => e.id()).sort();
  }

  destroy(): void {
    this.cy.destroy();
  }
}
