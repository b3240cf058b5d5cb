// The topology's cytoscape graph, updated in place: an update changes the data of the elements
// that changed, adds and removes the ones that came and went, and lays the graph out again only
// when its shape changed, so a steady mesh does not jump around every two seconds.
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';

export interface GraphNode { id: string; label: string; color: string }
export interface GraphEdge { id: string; source: string; target: string; label: string; color: string; width: number; subset?: boolean }

export class TopologyGraph {
  readonly cy: Core;

  constructor(container: HTMLElement, onOpen: (service: string) => void) {
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
    this.cy.on('tap', 'node', (e) => onOpen(e.target.id()));
    // an edge opens its callee, where the caller is listed with the same figures
    this.cy.on('tap', 'edge', (e) => onOpen(e.target.data(e.target.data('subset') ? 'source' : 'target')));
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
    const roots = this.cy.nodes().filter((n) => n.indegree(false) === 0).map((n) => n.id());
    this.cy.layout({ name: 'breadthfirst', directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.1, padding: 30, animate: false }).run();
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
